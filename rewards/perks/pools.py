"""Partners' own voucher codes: uploading them to a perk's pool.

An upload is a CSV file with a `code` column, JSON Lines (`{"code": "..."}` per line), both
read as a stream, or a JSON list of codes. Each code is judged alone and refusals are
reported by row (1 = the first code), never repeating the code: not a printable code of 4
to 64 characters, PAN-like, a duplicate of an earlier row, or already among the partner's
codes (pooled or issued: a code typed at the partner's till must name one voucher). Good
rows are stored sealed and hashed in batches, in the caller's transaction, so an upload that
breaks off stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any

from sqlalchemy import func, select

from rewards import sealing
from rewards.db import db, dialect_insert
from rewards.errors import Conflict, InvalidInput, NotFound
from rewards.feed_files import read_rows
from rewards.feed_rows import RowError
from rewards.perks.codes import validate_uploaded_code
from rewards.perks.models import Perk, PerkVersion, Voucher, VoucherCode
from rewards.perks.vouchers import code_key

BATCH = 1000
MAX_CODES = 100_000  # per upload: the duplicate check keeps every code's hash in memory
MAX_REPORTED = 1000  # refusals listed (all are counted)


@dataclass
class Upload:
    """What an upload did: codes read, added, refused (the first `MAX_REPORTED` listed)."""

    received: int = 0
    added: int = 0
    refused_count: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    available: int = 0

    def refuse(self, row: int, message: str) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_REPORTED:
            self.refused.append({"row": row, "message": message})


def check_codes_header(header: list[str] | None) -> None:
    """A codes CSV has exactly one column, `code`."""
    if not header:
        raise InvalidInput("The CSV file is empty; a header row `code` is required.", field="file")
    if header != ["code"]:
        raise InvalidInput("The CSV header must be exactly: code.", field="_header")


def codes_in(binary: IO[bytes], file_format: str) -> Iterator[Any]:
    """The codes of a streamed CSV or JSON Lines upload, in order (a RowError, or a value of
    the wrong shape, for an unreadable row)."""
    for row in read_rows(binary, file_format, check_codes_header):
        yield row.get("code") if isinstance(row, dict) else row


def upload_codes(*, perk_id: int, partner_id: int, codes: Iterable[Any]) -> Upload:
    """Add the codes to the pool of the partner's perk `perk_id` (NotFound if it is not the
    partner's; Conflict if it issues generated codes or has ended).

    The whole upload is read and checked first, and only then is the perk row locked, for
    the inserts: a slow upload never holds up redemptions of the perk while it streams."""
    _pooled_perk(perk_id, partner_id, lock=False)  # refuse early, before reading a byte
    result, seen = Upload(), set[str]()
    fresh: dict[str, tuple[int, str]] = {}
    for row, raw in enumerate(islice(codes, MAX_CODES + 1), start=1):
        if row > MAX_CODES:
            raise InvalidInput(f"At most {MAX_CODES} codes per upload.", field="file")
        result.received += 1
        checked = _checked(raw, row, seen, result)
        if checked is not None:  # sealed now, not under the lock
            fresh[checked[0]] = (row, sealing.seal(checked[1]))
    perk = _pooled_perk(perk_id, partner_id, lock=True)  # still the partner's, still open
    keys = list(fresh)
    for start in range(0, len(keys), BATCH):
        _store(perk, {key: fresh[key] for key in keys[start : start + BATCH]}, result)
    result.refused.sort(key=lambda refusal: refusal["row"])
    result.available = int(
        db.session.scalar(
            select(func.count()).where(
                VoucherCode.perk_id == perk.id, VoucherCode.status == "available"
            )
        )
        or 0
    )
    return result


def _pooled_perk(perk_id: int, partner_id: int, *, lock: bool) -> Perk:
    stmt = select(Perk).where(Perk.id == perk_id, Perk.partner_id == partner_id)
    perk = db.session.scalar(stmt.with_for_update() if lock else stmt)
    if perk is None:
        raise NotFound(f"Perk {perk_id} not found.")
    _check_pooled(perk)
    return perk


def _check_pooled(perk: Perk) -> None:
    definition = db.session.scalars(
        select(PerkVersion.definition).where(
            PerkVersion.perk_id == perk.id, PerkVersion.version == perk.current_version
        )
    ).one()
    if definition["voucher"]["codes"] != "uploaded":
        raise Conflict("This perk issues generated codes; it takes no uploads.", field="perk_id")
    if perk.status == "ended":
        raise Conflict("This perk has ended.", field="perk_id")


def _checked(raw: Any, row: int, seen: set[str], result: Upload) -> tuple[str, str] | None:
    """(key, code) of a good row; refusals are recorded. The code is never repeated."""
    if isinstance(raw, RowError):
        result.refuse(row, "; ".join(m for ms in raw.errors.values() for m in ms))
        return None
    if not isinstance(raw, str):
        result.refuse(row, "A code must be a string.")
        return None
    problem = validate_uploaded_code(raw)
    if problem:
        result.refuse(row, problem)
        return None
    code = raw.strip()
    # A code that reads as a generated one is keyed by that reading (`code_key`), so two
    # spellings of it are duplicates: one typed code must never name two vouchers.
    digest = code_key(code)
    if digest in seen:
        result.refuse(row, "Duplicate of an earlier row of this upload.")
        return None
    seen.add(digest)
    return digest, code


def _store(perk: Perk, fresh: dict[str, tuple[int, str]], result: Upload) -> None:
    """Insert a batch; codes the partner already has (pooled or issued) are refused."""
    if not fresh:
        return
    hashes = sorted(fresh)
    known = set(
        db.session.scalars(
            select(VoucherCode.code_hash).where(
                VoucherCode.partner_id == perk.partner_id, VoucherCode.code_hash.in_(hashes)
            )
        )
    ) | set(
        db.session.scalars(
            select(Voucher.code_hash).where(
                Voucher.partner_id == perk.partner_id, Voucher.code_hash.in_(hashes)
            )
        )
    )
    rows = [
        {
            "perk_id": perk.id,
            "partner_id": perk.partner_id,
            "code_hash": digest,
            "code_sealed": sealed,
            "status": "available",
        }
        for digest, (_, sealed) in fresh.items()
        if digest not in known
    ]
    inserted: set[str] = set()
    if rows:
        stmt = (
            dialect_insert(VoucherCode)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["partner_id", "code_hash"])
            .returning(VoucherCode.code_hash)
        )
        inserted = set(db.session.scalars(stmt))
    for digest, (row, _) in sorted(fresh.items(), key=lambda item: item[1][0]):
        if digest in inserted:
            result.added += 1
        else:  # stored before, or by a concurrent upload of the same partner
            result.refuse(row, "Already among this partner's codes.")
