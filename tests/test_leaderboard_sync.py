"""Keeping the Redis boards in step with PostgreSQL: the sync after a real chunk job, its
failure never failing the job, rebuilds after FLUSHDB giving exactly the same ranking (on
read and by the command), period boundaries in the program's timezone, expiry of boards."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from flask import current_app
from sqlalchemy import update

import campaigns.leaderboards.sync as sync_module
from campaigns.challenges.models import ChallengeProgress
from campaigns.leaderboards.catalogue import program_boards, xp_boards
from campaigns.leaderboards.reading import read_board
from campaigns.leaderboards.sources import board_scores, challenge_board_scores
from campaigns.leaderboards.store import Board, Leaderboards
from campaigns.leaderboards.sync import rebuild_board, sync_customers
from campaigns.levels.models import XpEntry
from rewards.balances import zone
from rewards.db import db as _db
from rewards.models import Customer, Transaction
from tests.factories import CardFactory, ProgramFactory, TransactionFactory
from tests.leaderboard_helpers import (
    ADULT,
    MINOR,
    add_xp,
    challenge,
    expected_ranking,
    headers_of,
    person,
    progress,
)
from workers.jobs import process_transactions, rebuild_leaderboards
from workers.schedule import PERIODIC

PERIODIC_NAMES = {p.name for p in PERIODIC}


def _store(app) -> Leaderboards:
    return Leaderboards(current_app.extensions["rewards_queues"].redis, app.config["QUEUE_PREFIX"])


def _this_week(program) -> str:
    year, week, _ = datetime.now(UTC).astimezone(zone(program.timezone)).date().isocalendar()
    return f"{year}-W{week:02d}"


def test_a_processed_chunk_writes_its_customers_scores_to_their_boards(app, db, program):
    """The boards mirror PostgreSQL after the chunk commits: whatever XP the feed worked out
    (read back from the database here) and the challenge progress, for the chunk's customers
    who may appear (no one else is written); absolute scores, so a re-run writes the same."""
    weekly = challenge(program)
    fan = person(program, "ref-fan", xp=120, week_xp=20)
    kid = person(program, "ref-kid", xp=300, birth=MINOR)  # may not appear
    bystander = person(program, "ref-by", xp=999)  # not in the chunk: not written
    week = f"w:{_this_week(program)}"
    progress(fan, weekly.id, week, 2)
    txs = [
        TransactionFactory(card=CardFactory(customer=fan)),
        TransactionFactory(card=CardFactory(customer=kid)),
    ]
    db.session.commit()
    ids, fan_id, kid_id, by_id = [tx.id for tx in txs], fan.id, kid.id, bystander.id
    weekly_id = weekly.id
    week_board = Board(program.id, f"challenge:{weekly_id}", week)
    store = _store(app)
    all_time = Board(program.id, "xp", "all")

    assert process_transactions(ids)["processed"] == 2

    def in_db() -> tuple[int, int, int]:
        _db.session.expire_all()
        xp = _db.session.get(Customer, fan_id).xp
        week_xp = _db.session.scalar(
            _db.select(_db.func.coalesce(_db.func.sum(XpEntry.xp), 0)).where(
                XpEntry.customer_id == fan_id
            )
        )
        value = _db.session.scalar(
            _db.select(ChallengeProgress.value).where(
                ChallengeProgress.customer_id == fan_id,
                ChallengeProgress.challenge_id == weekly_id,
                ChallengeProgress.period == week,
            )
        )
        return xp, week_xp, value

    xp, week_xp, value = in_db()
    assert value == 3  # the purchase counted towards the weekly challenge (2 before)
    assert store.scores(all_time) == ([(fan_id, xp)] if xp > 0 else [])
    assert store.scores(Board(program.id, "xp", _this_week(program))) == (
        [(fan_id, week_xp)] if week_xp > 0 else []
    )
    assert store.scores(week_board) == [(fan_id, 3)]
    assert by_id not in dict(store.scores(all_time))
    assert kid_id not in dict(store.scores(all_time))
    assert not store.is_built(all_time)  # written by the sync, not by a rebuild

    # A later chunk: the board simply follows PostgreSQL; a re-run writes the same again.
    tx = TransactionFactory(card=CardFactory(customer=_db.session.get(Customer, fan_id)))
    _db.session.commit()
    tx_id = tx.id
    process_transactions([tx_id])
    process_transactions([tx_id])
    xp, week_xp, value = in_db()
    assert value == 4
    assert store.scores(all_time) == ([(fan_id, xp)] if xp > 0 else [])
    assert store.scores(week_board) == [(fan_id, 4)]


def test_a_redis_failure_in_the_sync_never_fails_the_chunk(app, db, program, monkeypatch):
    fan = person(program, "ref-fan", xp=10)
    tx = TransactionFactory(card=CardFactory(customer=fan))
    db.session.commit()
    tx_id = tx.id
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens

    assert process_transactions([tx_id])["processed"] == 1
    assert _db.session.get(Transaction, tx_id).status == "processed"


def _population(program, rng: random.Random, count: int) -> list[Customer]:
    people = []
    for n in range(count):
        c = person(
            program,
            f"ref-r{n}",
            xp=rng.choice([0, 10, 10, 25, 40, 40, 40, 75, 120]),
            week_xp=rng.choice([0, 5, 5, 15]),
            birth=rng.choice([ADULT, ADULT, MINOR, None]),
            consent=rng.random() < 0.85,
            opted_in=rng.random() < 0.5,
        )
        people.append(c)
    return people


def test_after_flushdb_the_rebuilt_ranking_is_exactly_the_one_before(
    app, client, db, program, private_redis, monkeypatch
):
    port = private_redis.connection_pool.connection_kwargs["port"]
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{port}/0")
    rng = random.Random(77)
    weekly = challenge(program)
    people = _population(program, rng, 300)
    for c in people[:200]:
        progress(c, weekly.id, f"w:{_this_week(program)}", rng.randrange(0, 6))
    db.session.commit()
    store = _store(app)
    now = datetime.now(UTC)
    # Boards filled the way the feed fills them: chunk by chunk, then XP changes, re-synced.
    for start in range(0, 300, 50):
        sync_customers([c.id for c in people[start : start + 50]], store=store, now=now)
    for c in rng.sample(people, 40):
        add_xp(_db.session.get(Customer, c.id), rng.randrange(-5, 30))
    _db.session.commit()
    sync_customers([c.id for c in people], store=store, now=now)

    boards = program_boards(program.id, now)
    assert [b.id for b in boards] == ["xp-week", "xp-month", "xp-all", f"challenge-{weekly.id}"]
    before = {b.id: store.scores(b.board) for b in boards}
    for b in boards:  # and the sync agrees with PostgreSQL, sorted by hand
        truth = board_scores(b, today=now.astimezone(zone(program.timezone)).date())
        assert before[b.id] == expected_ranking(truth.shown)
    assert len(before["xp-all"]) > 100
    readers = [c.external_ref for c in people[:30:3]]
    seen = {(r, b.id): _get(client, r, b.id) for r in readers for b in boards}

    private_redis.flushdb()
    assert {(r, b.id): _get(client, r, b.id) for r in readers for b in boards} == seen
    assert {b.id: store.scores(b.board) for b in boards} == before  # rebuilt on read

    private_redis.flushdb()
    result = app.test_cli_runner().invoke(args=["leaderboards", "rebuild", "--program", "youth"])
    assert result.exit_code == 0, result.output
    assert "4 board(s) rebuilt" in result.output
    assert {b.id: store.scores(b.board) for b in boards} == before


def _get(client, ref: str, board: str) -> dict:
    response = client.get(f"/v1/leaderboards/{board}", headers=headers_of(ref))
    assert response.status_code == 200
    return response.json


def test_a_chunk_synced_while_a_rebuild_reads_postgresql_is_not_lost(app, db, program, monkeypatch):
    fan = person(program, "ref-fan", xp=10)
    other = person(program, "ref-other", xp=50)
    db.session.commit()
    store = _store(app)
    now = datetime.now(UTC)
    spec = next(b for b in program_boards(program.id, now) if b.id == "xp-all")
    real_scores = sync_module.board_scores
    raced = []

    def snapshot_then_a_chunk_commits(spec_, *, today, customer_ids=None):
        snapshot = real_scores(spec_, today=today, customer_ids=customer_ids)
        if customer_ids is None and not raced:  # the rebuild's full read has happened
            raced.append(True)
            _db.session.execute(_db.update(Customer).where(Customer.id == fan.id).values(xp=90))
            _db.session.commit()
            sync_customers([fan.id], store=store, now=now)
        return snapshot

    monkeypatch.setattr(sync_module, "board_scores", snapshot_then_a_chunk_commits)
    assert rebuild_board(spec, store=store, now=now) == 2
    assert raced
    assert store.scores(spec.board) == [(fan.id, 90), (other.id, 50)]


@pytest.mark.parametrize(
    ("timezone", "now", "board", "inside", "outside"),
    [
        # Tokyo (UTC+9): Monday 00:00 local is Sunday 15:00 UTC.
        ("Asia/Tokyo", "2026-03-23T01:00:00+00:00", "xp-week",
         "2026-03-22T15:00:00+00:00", "2026-03-22T14:59:59+00:00"),
        ("Asia/Tokyo", "2026-03-22T14:00:00+00:00", "xp-week",
         "2026-03-22T14:59:59+00:00", "2026-03-22T15:00:00+00:00"),
        # Berlin, after the DST change of 29 March: April begins at 22:00 UTC on 31 March.
        ("Europe/Berlin", "2026-04-01T08:00:00+00:00", "xp-month",
         "2026-03-31T22:00:00+00:00", "2026-03-31T21:59:59+00:00"),
        # and the week of the change itself: Monday 30 March 00:00 CEST is 22:00 UTC on the 29th.
        ("Europe/Berlin", "2026-03-30T09:00:00+00:00", "xp-week",
         "2026-03-29T22:00:00+00:00", "2026-03-29T21:59:59+00:00"),
    ],
)  # fmt: skip
def test_weekly_and_monthly_boards_begin_at_local_midnight(
    app, db, timezone, now, board, inside, outside
):
    place = ProgramFactory(slug="zoned", timezone=timezone)
    counted = person(place, "ref-in", xp=7, at=datetime.fromisoformat(inside))
    person(place, "ref-out", xp=5, at=datetime.fromisoformat(outside))
    viewer = person(place, "ref-v", xp=0)
    db.session.commit()
    moment = datetime.fromisoformat(now)
    spec = next(b for b in xp_boards(place.id, zone(timezone), moment) if b.id == board)
    assert board_scores(spec, today=moment.date()).shown == {counted.id: 7}
    # Through the reader too (from PostgreSQL: at a past `now`, a Redis board would already
    # be past its expiry, which the next test covers).
    view = read_board(
        customer=viewer, board_id=board, limit=10, store=None, now=moment, secret=b"k"
    )
    assert [(line.nickname, line.score) for line in view.top] == [("In", 7)]


def test_boards_of_a_period_expire_after_it_ends_and_all_time_never(app, db, program, redis):
    fan = person(program, "ref-fan", xp=10)
    db.session.commit()
    store = _store(app)
    now = datetime.now(UTC)
    sync_customers([fan.id], store=store, now=now)
    specs = {b.id: b for b in program_boards(program.id, now)}
    for board_id in ("xp-week", "xp-month"):
        spec = specs[board_id]
        assert spec.expires_at is not None
        ttl = redis.ttl(spec.board.key(store.prefix))
        assert 0 < ttl <= (spec.expires_at - now).total_seconds() + 1
        assert (spec.expires_at - spec.ends_at).days == 8
    assert redis.ttl(specs["xp-all"].board.key(store.prefix)) == -1


def test_the_sync_reads_every_challenge_board_at_once_with_the_same_result(app, db, program):
    """The sync's two-query read of all challenge boards gives each board exactly what the
    per-board read (`board_scores`, used by rebuilds) gives for the same customers."""
    rng = random.Random(9)
    boards = [challenge(program, name=f"c{n}") for n in range(4)]
    week = f"w:{_this_week(program)}"
    people = [
        person(
            program,
            f"ref-{n}",
            birth=rng.choice([ADULT, MINOR, None]),
            consent=rng.random() < 0.7,
            opted_in=rng.random() < 0.3,
            status=rng.choice(["active", "active", "closed"]),
        )
        for n in range(40)
    ]
    for who in people:
        for board in boards:
            if rng.random() < 0.6:
                progress(who, board.id, week, rng.randrange(0, 9))
        if rng.random() < 0.2:
            progress(who, boards[0].id, "w:2020-W01", 5)  # another period: not this board
    db.session.commit()
    now = datetime.now(UTC)
    today = now.astimezone(zone(program.timezone)).date()
    ids = [who.id for who in people]
    specs = [s for s in program_boards(program.id, now) if s.challenge_id is not None]
    assert len(specs) == 4

    together = challenge_board_scores(specs, today=today, customer_ids=ids)

    for spec in specs:
        one = board_scores(spec, today=today, customer_ids=ids)
        assert together[spec].shown == one.shown
        assert together[spec].hidden == one.hidden
    assert any(s.shown for s in together.values()) and any(s.hidden for s in together.values())


def test_an_opt_out_committed_while_a_sync_writes_is_taken_off_again(app, db, program):
    """The sync read "may appear", the cardholder opted out (and the PATCH took them off),
    then the sync wrote their score back: its check after the write takes them off again."""
    fan = person(program, "ref-fan", xp=50)
    db.session.commit()
    fan_id = fan.id
    store = _store(app)
    real_write = store.write
    opted_out = []

    def write_then_opt_out(writes):
        real_write(writes)
        if not opted_out:  # another connection commits the opt-out after this write
            with _db.engine.begin() as conn:
                conn.execute(
                    update(Customer)
                    .where(Customer.id == fan_id)
                    .values(consent_leaderboard=False, leaderboard_opted_in_at=None)
                )
            opted_out.append(True)

    store.write = write_then_opt_out
    all_time = Board(program.id, "xp", "all")

    sync_customers([fan_id], store=store, now=datetime.now(UTC))

    assert opted_out and store.scores(all_time) == []


def test_the_periodic_rebuild_takes_off_members_who_may_no_longer_appear(app, db, program):
    """Drift the syncs leave (here: a member who may no longer appear, a lost write) is gone
    after the periodic rebuild, which leaves exactly the ranking PostgreSQL gives."""
    stays = person(program, "ref-stays", xp=70)
    lost = person(program, "ref-lost", xp=40)  # never written: a write Redis lost
    gone = person(program, "ref-gone", xp=90)
    db.session.commit()
    store = _store(app)
    all_time = Board(program.id, "xp", "all")
    store.set_scores(all_time, {stays.id: 70, gone.id: 90})
    gone.birth_date = MINOR  # corrected by enrolment, no sync
    db.session.commit()
    stays_id, lost_id = stays.id, lost.id

    assert {"rebuild-leaderboards"} <= PERIODIC_NAMES
    assert rebuild_leaderboards() >= 2

    assert store.scores(all_time) == [(stays_id, 70), (lost_id, 40)]
