"""Bulk enrolment: a stream of customer rows written chunk by chunk, set-based and idempotent.

A row creates the customer (and opens its account) or updates the fields it gives, and enrols
its card tokens. A row is rejected alone, with nothing from it stored, when a value is invalid,
its external ref or a card token appeared on an earlier row of the file, the customer was
erased, or a token belongs to another customer. Uploading the same file again changes nothing
and reports its rows as unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from rewards.enrolment import writes
from rewards.enrolment.rows import CustomerRow, Errors, validate_row
from rewards.feed_rows import RowError
from rewards.matching import release_unmatched

CHUNK_ROWS = 5_000
REPORTED_REJECTIONS = 100


@dataclass
class EnrolmentSummary:
    """What happened to a file: counts per outcome and the first rejections."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    cards_enrolled: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.created + self.updated + self.unchanged + self.rejected,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "cards_enrolled": self.cards_enrolled,
            "rejections": self.rejections,
        }


@dataclass
class _Plan:
    """What one valid row will write."""

    index: int
    row: CustomerRow
    customer_id: int | None
    changes: dict[str, Any]
    new_tokens: list[str]


class CustomerImport:
    """One file's import into one program; remembers the refs and tokens seen so far."""

    def __init__(self, *, program_id: int, keep_rejections: int | None = REPORTED_REJECTIONS):
        self.program_id = program_id
        self.keep_rejections = keep_rejections
        self.summary = EnrolmentSummary()
        self.today = datetime.now(UTC).date()
        self._ref_rows: dict[str, int] = {}
        self._token_rows: dict[str, int] = {}

    def add_chunk(self, items: list[tuple[int, Any]]) -> list[int]:
        """Validate and write one chunk of `(index, raw row)`; flushes, never commits.

        Returns the ids of unmatched transactions released by newly enrolled cards: the caller
        commits, then enqueues them.
        """
        rows: list[tuple[int, CustomerRow]] = []
        for index, raw in items:
            row, errors = self._check(index, raw)
            if row is None:
                self._reject(index, errors)
            else:
                rows.append((index, row))
        new_tokens = self._write(rows, retry=True)
        return release_unmatched(program_id=self.program_id, card_tokens=new_tokens)

    def _check(self, index: int, raw: Any) -> tuple[CustomerRow | None, Errors]:
        if isinstance(raw, RowError):
            return None, raw.errors
        row, errors = validate_row(raw, today=self.today)
        if row is None:
            return None, errors
        earlier = self._ref_rows.get(row.external_ref)
        if earlier is not None:
            return None, {"external_ref": [f"appears earlier in this file (row {earlier})"]}
        for position, token in enumerate(row.card_tokens):
            earlier = self._token_rows.get(token)
            if earlier is not None:
                message = f"appears earlier in this file (row {earlier})"
                return None, {row.token_fields[position]: [message]}
        self._claim(index, row)
        return row, {}

    def _claim(self, index: int, row: CustomerRow) -> None:
        self._ref_rows[row.external_ref] = index
        for token in row.card_tokens:
            self._token_rows[token] = index

    def _reject(self, index: int, errors: Errors) -> None:
        self.summary.rejected += 1
        if self.keep_rejections is None or len(self.summary.rejections) < self.keep_rejections:
            self.summary.rejections.append({"index": index, "errors": errors})

    def _plan(self, rows: list[tuple[int, CustomerRow]]) -> list[_Plan]:
        """Compare the rows with what is stored; reject erased customers and taken tokens."""
        stored = writes.stored_customers(
            program_id=self.program_id, refs=[row.external_ref for _, row in rows]
        )
        owners = writes.card_owners(
            program_id=self.program_id, tokens=[t for _, row in rows for t in row.card_tokens]
        )
        plans = []
        for index, row in rows:
            existing = stored.get(row.external_ref)
            if existing is not None and existing.status == "erased":
                self._reject(index, {"external_ref": ["this customer was erased"]})
                continue
            own_id = existing.id if existing else None
            taken = [
                row.token_fields[i]
                for i, token in enumerate(row.card_tokens)
                if owners.get(token, own_id) != own_id
            ]
            if taken:
                self._reject(index, {f: ["is enrolled to another customer"] for f in taken})
                continue
            given = row.profile()
            changes = (
                given
                if existing is None
                else {k: v for k, v in given.items() if existing.profile[k] != v}
            )
            tokens = [t for t in row.card_tokens if t not in owners]
            plans.append(_Plan(index, row, own_id, changes, tokens))
        return plans

    def _write(self, rows: list[tuple[int, CustomerRow]], *, retry: bool) -> list[str]:
        plans = self._plan(rows)
        new = [p for p in plans if p.customer_id is None]
        created = writes.insert_customers(
            program_id=self.program_id,
            rows=[{"external_ref": p.row.external_ref, **p.row.profile(full=True)} for p in new],
        )
        raced = [p for p in new if p.row.external_ref not in created]
        updates = [p for p in plans if p.customer_id is not None and p.changes]
        for plan in new:
            plan.customer_id = created.get(plan.row.external_ref)
        writes.open_accounts(program_id=self.program_id, customer_ids=list(created.values()))
        writes.update_customers(
            [{"id": p.customer_id, **p.row.profile(full=True)} for p in updates]
        )
        done = [p for p in plans if p.customer_id is not None]
        cards = [(t, p.customer_id) for p in done for t in p.new_tokens]
        enrolled = writes.insert_cards(program_id=self.program_id, cards=cards)  # type: ignore[arg-type]
        self._count(done, enrolled, created_refs=set(created))
        new_tokens = sorted(enrolled)
        if raced:
            # Another session enrolled these refs between our read and our insert: they are
            # existing customers now, so plan them again (once).
            if retry:
                new_tokens += self._write([(p.index, p.row) for p in raced], retry=False)
            else:
                for plan in raced:
                    self._reject(plan.index, {"external_ref": ["enrolled concurrently; retry"]})
        return new_tokens

    def _count(self, plans: list[_Plan], enrolled: set[str], *, created_refs: set[str]) -> None:
        for plan in plans:
            missing = [
                plan.row.token_fields[plan.row.card_tokens.index(t)]
                for t in plan.new_tokens
                if t not in enrolled
            ]
            if missing:
                # Taken by another customer after our read (a concurrent enrolment); the
                # row's customer fields are written, its other new cards too.
                self._reject(
                    plan.index,
                    {f: ["was enrolled to another customer meanwhile"] for f in missing},
                )
                continue
            self.summary.cards_enrolled += len(plan.new_tokens)
            if plan.row.external_ref in created_refs:
                self.summary.created += 1
            elif plan.changes or plan.new_tokens:
                self.summary.updated += 1
            else:
                self.summary.unchanged += 1


def enrol_customers(
    *,
    program_id: int,
    rows: Iterable[Any],
    on_chunk: Callable[[list[int]], None],
    chunk_rows: int = CHUNK_ROWS,
    keep_rejections: int | None = REPORTED_REJECTIONS,
) -> EnrolmentSummary:
    """Enrol `rows` (mappings or `RowError`s, e.g. from `read_customers`) in chunks.

    After each chunk `on_chunk(released_transaction_ids)` runs: the entry point commits there
    and then enqueues, so a stream that breaks off keeps every earlier chunk (re-sending the
    file is harmless).
    """
    job = CustomerImport(program_id=program_id, keep_rejections=keep_rejections)
    for items in _chunks(enumerate(rows), chunk_rows):
        on_chunk(job.add_chunk(items))
    return job.summary


def _chunks(items: Iterator[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    while chunk := list(islice(items, size)):
        yield chunk
