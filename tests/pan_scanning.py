"""Planting card numbers and scanning stores for them, for `tests/test_pan_scan.py`."""

from __future__ import annotations

import itertools
import json
import random
import unicodedata
import zlib

from sqlalchemy import text

from tests.test_pan import FORMS

# (prefix, length) of the networks' ranges; numbers are made fresh for every run, so a hit
# can only come from this run (other runs share the Redis database).
ISSUERS = [("4", 16), ("4", 13), ("4", 19), ("51", 16), ("2221", 16), ("34", 15), ("62", 19)]
ISSUERS += [("3528", 16), ("6011", 16), ("645", 16), ("65", 17), ("300", 14), ("38", 16)]


def _luhn_check_digit(body: str) -> str:
    total = 0
    for i, char in enumerate(reversed(body)):
        n = int(char) * (1 if i % 2 else 2)  # the check digit goes right of these
        total += n // 10 + n % 10
    return str((10 - total % 10) % 10)


def digits_only(value: str) -> str:
    """Every digit of any script as ASCII, everything else dropped (separators, letters)."""
    out = []
    for char in value:
        digit = unicodedata.digit(char, None)
        if digit is not None:
            out.append(str(digit))
    return "".join(out)


class Planter:
    """Hands out a fresh card number in the next written form, and remembers where it went."""

    def __init__(self) -> None:
        self.rng = random.Random()
        self.forms = itertools.cycle(FORMS.items())
        self.issuers = itertools.cycle(ISSUERS)
        self.planted: dict[str, str] = {}

    def __call__(self, where: str) -> str:
        prefix, length = next(self.issuers)
        body = prefix + "".join(
            self.rng.choice("0123456789") for _ in range(length - 1 - len(prefix))
        )
        digits = body + _luhn_check_digit(body)
        form_name, form = next(self.forms)
        self.planted[digits] = f"{where} ({form_name})"
        return form(digits)

    def hits(self, value: str, where: str) -> list[str]:
        """Planted numbers found in `value`, described."""
        flat = digits_only(value)
        if len(flat) < 13:
            return []
        return [f"{where}: {origin}" for digits, origin in self.planted.items() if digits in flat]


def scan_database(db, plant: Planter) -> list[str]:
    columns = db.session.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY', 'USER-DEFINED')"
        )
    ).all()
    assert len(columns) > 30, "the column discovery found too little to be a real scan"
    hits = []
    for table, column in columns:
        values = db.session.execute(
            text(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')
        ).scalars()
        for value in values:
            hits += plant.hits(value, f"db {table}.{column}")
    db.session.rollback()
    return hits


def _redis_values(redis, key: bytes) -> list[bytes]:
    kind = redis.type(key).decode()
    if kind == "string":
        return [redis.get(key) or b""]
    if kind == "hash":
        return [part for pair in redis.hgetall(key).items() for part in pair]
    if kind == "list":
        return redis.lrange(key, 0, -1)
    if kind == "set":
        return list(redis.smembers(key))
    if kind == "zset":
        return [member for member, _ in redis.zrange(key, 0, -1, withscores=True)]
    if kind == "stream":
        return [
            json.dumps(
                {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
            ).encode()
            for _, fields in redis.xrange(key)
        ]
    return []


def scan_redis(redis, plant: Planter) -> tuple[list[str], int]:
    hits, payloads = [], 0
    for key in redis.scan_iter(count=1000):
        for raw in [key, *_redis_values(redis, key)]:
            texts = [raw]
            try:
                texts.append(zlib.decompress(raw))  # RQ job data: a zlib-compressed pickle
                payloads += 1
            except zlib.error:
                pass
            for data in texts:
                hits += plant.hits(
                    data.decode("utf-8", "ignore"), f"redis {key.decode(errors='replace')}"
                )
    return hits, payloads
