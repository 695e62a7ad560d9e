"""`rewards worker`: run an RQ worker (with RQ's scheduler) for this app's queues."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from workers.queues import QUEUE_NAMES


@click.command("worker")
@click.option(
    "--queue",
    "queue_names",
    multiple=True,
    type=click.Choice(QUEUE_NAMES),
    help="Queues to work (default: all).",
)
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("--no-fork", is_flag=True, help="Run jobs in the worker process (SimpleWorker).")
@click.option("--no-scheduler", is_flag=True, help="Do not run RQ's scheduler in this worker.")
@click.option("--name", default=None, help="Worker name (unique per machine).")
@with_appcontext
def worker_command(
    queue_names: tuple[str, ...], burst: bool, no_fork: bool, no_scheduler: bool, name: str | None
) -> None:
    """Process feed chunks and scheduled jobs. Run one per core, on as many machines as needed."""
    from workers.worker import run_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["REDIS_URL"] is None:
        raise click.UsageError(
            "Set REDIS_URL: workers need Redis (embedded mode runs jobs inline)."
        )
    run_worker(
        app,
        queue_names=queue_names or QUEUE_NAMES,
        burst=burst,
        fork=not no_fork,
        scheduler=not no_scheduler,
        name=name,
    )


@click.command("sweep")
@click.option(
    "--all",
    "even_if_queued",
    is_flag=True,
    help="Also re-enqueue rows a queued or running job holds (a duplicate job is a no-op).",
)
@with_appcontext
def sweep_command(even_if_queued: bool) -> None:
    """Re-enqueue stranded transactions now (the scheduler also does this every minute)."""
    from workers.jobs import sweep_stranded

    count = sweep_stranded(older_than_seconds=0, even_if_queued=even_if_queued)
    click.echo(f"re-enqueued {count} transactions")


COMMANDS = [worker_command, sweep_command]
