"""Operator commands for feeds: import a transaction file or a customer file from disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, cast

import click
from flask.cli import with_appcontext

from rewards.db import db
from rewards.enrolment import enrol_customers, read_customers
from rewards.errors import InvalidInput, NotFound
from rewards.feed_files import FORMATS, CountingReader, read_rows
from rewards.feed_rows import RowValidator
from rewards.ingest import finish_batch, ingest_rows, open_batch, program_by_slug
from workers.queues import enqueue_transactions

SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _format_of(path: Path, chosen: str | None) -> str:
    file_format = chosen or SUFFIXES.get(path.suffix.lower())
    if file_format is None:
        raise click.UsageError("Cannot tell the format from the file name; pass --format.")
    return file_format


@click.command("import-file")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--program", "slug", required=True, help="Slug of the program the file is for.")
@click.option("--format", "file_format", type=click.Choice(FORMATS), help="Default: by suffix.")
@with_appcontext
def import_file(path: Path, slug: str, file_format: str | None) -> None:
    """Import a CSV or JSON Lines transaction file, in committed chunks, and queue processing."""
    file_format = _format_of(path, file_format)
    try:
        program = program_by_slug(slug)
    except NotFound as exc:
        raise click.ClickException(exc.detail) from exc
    with (
        path.open("rb") as raw,
        click.progressbar(length=path.stat().st_size, label=path.name) as bar,
    ):
        counted = CountingReader(raw)
        try:
            rows = read_rows(cast(IO[bytes], counted), file_format)
        except InvalidInput as exc:
            raise click.ClickException(f"{exc.detail} {exc.errors}") from exc
        batch = open_batch(program_id=program.id, source="cli", filename=path.name)
        db.session.commit()
        shown, not_queued = 0, 0

        def on_chunk(ids: list[int]) -> None:
            nonlocal shown, not_queued
            db.session.commit()
            # Once the queue failed, later chunks go straight to the sweeper (no wait per chunk).
            if not_queued or not enqueue_transactions(ids).complete:
                not_queued += len(ids)
            bar.update(counted.bytes_read - shown)
            shown = counted.bytes_read

        validator = RowValidator(
            program_currency=program.currency, digits_allowed=file_format == "csv"
        )
        summary = ingest_rows(batch=batch, validator=validator, rows=rows, on_chunk=on_chunk)
        finish_batch(batch)
        db.session.commit()
        bar.update(path.stat().st_size - shown)
    click.echo(
        f"batch {summary.batch_id}: accepted {summary.accepted}, "
        f"duplicates {summary.duplicates}, rejected {summary.rejected}"
    )
    for rejection in summary.rejections[:10]:
        click.echo(f"  row {rejection['index']}: {rejection['errors']}")
    if not_queued:
        click.echo(
            f"stored, not queued: {not_queued} rows wait for the sweeper (the job queue is "
            "unreachable); processing starts within minutes of it being back, no need to "
            "import again",
            err=True,
        )


@click.command("import-customers")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--program", "slug", required=True, help="Slug of the program to enrol into.")
@click.option("--format", "file_format", type=click.Choice(FORMATS), help="Default: by suffix.")
@click.option(
    "--rejections",
    "rejections_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write every rejected row (index and errors) to this JSON Lines file.",
)
@with_appcontext
def import_customers(
    path: Path, slug: str, file_format: str | None, rejections_path: Path | None
) -> None:
    """Enrol customers and their card tokens from a CSV or JSON Lines file (as the upload)."""
    file_format = _format_of(path, file_format)
    try:
        program = program_by_slug(slug)
    except NotFound as exc:
        raise click.ClickException(exc.detail) from exc
    with (
        path.open("rb") as raw,
        click.progressbar(length=path.stat().st_size, label=path.name) as bar,
    ):
        counted = CountingReader(raw)
        shown = 0

        def on_chunk(released: list[int]) -> None:
            nonlocal shown
            db.session.commit()
            if released:
                enqueue_transactions(released)
            bar.update(counted.bytes_read - shown)
            shown = counted.bytes_read

        try:
            rows = read_customers(cast(IO[bytes], counted), file_format)
            summary = enrol_customers(
                program_id=program.id,
                rows=rows,
                on_chunk=on_chunk,
                keep_rejections=None if rejections_path else 10,
            )
        except InvalidInput as exc:
            raise click.ClickException(f"{exc.detail} {exc.errors}") from exc
        bar.update(path.stat().st_size - shown)
    counts = summary.as_dict()
    click.echo(
        "customers: created {created}, updated {updated}, unchanged {unchanged}, "
        "rejected {rejected}; cards enrolled {cards_enrolled}".format(**counts)
    )
    if rejections_path:
        with rejections_path.open("w") as out:
            _write_rejections(out, summary.rejections)
        click.echo(f"rejected rows written to {rejections_path}")
    else:
        for rejection in summary.rejections:
            click.echo(f"  row {rejection['index']}: {rejection['errors']}")


def _write_rejections(out: IO[str], rejections: list[dict]) -> None:
    for rejection in rejections:
        out.write(json.dumps(rejection) + "\n")


COMMANDS: list[click.Command] = [import_file, import_customers]
