"""Leaderboard sorted sets on a real Redis: ranking, neighbours, privacy, rebuild after FLUSHDB.

Expected rankings are worked out here by sorting plain tuples, never by the code under test."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from campaigns.leaderboards.privacy import age_on, may_appear
from campaigns.leaderboards.store import Board, Leaderboards, member

BOARD = Board(program_id=7, metric="xp", period="2026-W49")


@pytest.fixture
def boards(private_redis) -> Leaderboards:
    return Leaderboards(private_redis, "lb-test")


def _expected(scores: dict[int, int]) -> list[tuple[int, int]]:
    """Highest score first; equal scores by customer id, lowest first; zero scores absent."""
    ranked = sorted(((-s, c) for c, s in scores.items() if s > 0))
    return [(c, -negated) for negated, c in ranked]


def test_ranking_orders_scores_and_breaks_ties_by_the_earliest_customer(boards):
    rng = random.Random(49)
    scores = {c: rng.choice([0, 5, 10, 10, 20, 35, 35, 35, 100]) for c in range(1, 400)}
    boards.set_scores(BOARD, scores)
    assert boards.scores(BOARD) == _expected(scores)


def test_standing_shows_the_top_the_caller_and_their_neighbours(boards):
    rng = random.Random(7)
    scores = {c: rng.randrange(1, 60) for c in range(1, 1001)}
    boards.set_scores(BOARD, scores)
    ranking = _expected(scores)
    for caller in (ranking[0][0], ranking[1][0], ranking[500][0], ranking[-1][0]):
        standing = boards.standing(BOARD, caller, top=5, around=2)
        position = [c for c, _ in ranking].index(caller)
        assert standing.members == 1000
        assert [(e.customer_id, e.score) for e in standing.top] == ranking[:5]
        assert [e.rank for e in standing.top] == [1, 2, 3, 4, 5]
        assert standing.own is not None
        assert (standing.own.rank, standing.own.score) == (position + 1, scores[caller])
        window = ranking[max(0, position - 2) : position + 3]
        assert [(e.customer_id, e.score) for e in standing.around] == window
        assert [e.rank for e in standing.around] == list(
            range(max(0, position - 2) + 1, position + 4)[: len(window)]
        )


def test_a_caller_who_is_not_on_the_board_sees_the_top_only(boards):
    boards.set_scores(BOARD, {1: 10, 2: 20})
    standing = boards.standing(BOARD, 3)
    assert standing.own is None and standing.around == []
    assert [(e.customer_id, e.score) for e in standing.top] == [(2, 20), (1, 10)]


def test_a_read_tells_whether_the_board_is_complete_in_the_same_round_trip(boards):
    boards.set_scores(BOARD, {1: 10, 2: 2**53})  # written by a sync: no rebuild yet
    assert boards.built_standing(BOARD, 1) is None
    boards.rebuild(BOARD, {1: 10, 2: 2**53, 3: 7})
    standing = boards.built_standing(BOARD, 3, top=1, around=1)
    assert standing == boards.standing(BOARD, 3, top=1, around=1)
    assert standing is not None and standing.members == 3
    assert [(e.customer_id, e.score) for e in standing.top] == [(2, 2**53)]
    assert [(e.rank, e.customer_id) for e in standing.around] == [(2, 1), (3, 3)]
    assert boards.built_standing(BOARD, None, top=2) == boards.standing(BOARD, None, top=2)


def test_scores_are_absolute_so_a_repeated_write_changes_nothing(boards):
    boards.set_scores(BOARD, {1: 10, 2: 20})
    boards.set_scores(BOARD, {1: 10, 2: 20})
    boards.set_scores(BOARD, {1: 25})
    assert boards.scores(BOARD) == [(1, 25), (2, 20)]
    boards.set_scores(BOARD, {2: 0}, hidden=[1])  # withdrawn consent; a clawback to nothing
    assert boards.scores(BOARD) == []


def test_a_rebuild_after_flushdb_gives_exactly_the_same_ranking(boards, private_redis):
    rng = random.Random(2026)
    truth: dict[int, int] = {}
    for _ in range(3000):  # incremental writes, as the feed makes them
        customer = rng.randrange(1, 2000)
        truth[customer] = max(0, truth.get(customer, 0) + rng.randrange(-20, 60))
        boards.set_scores(BOARD, {customer: truth[customer]})
    before = boards.scores(BOARD)
    assert before == _expected(truth)

    private_redis.flushdb()
    assert boards.scores(BOARD) == []
    assert boards.ensure(BOARD, lambda: dict(truth)) is True  # lost: rebuilt from the source
    assert boards.scores(BOARD) == before
    assert boards.ensure(BOARD, lambda: {}) is False  # present: left alone


def test_a_rebuild_replaces_the_board_at_once(boards):
    boards.set_scores(BOARD, {1: 5, 2: 6})
    assert boards.rebuild(BOARD, {3: 9, 4: 0}) == 1
    assert boards.scores(BOARD) == [(3, 9)]
    assert boards.rebuild(BOARD, {}) == 0
    assert boards.scores(BOARD) == []


def test_boards_of_other_programs_and_periods_are_separate(boards):
    other = Board(program_id=8, metric="xp", period="2026-W49")
    month = Board(program_id=7, metric="xp", period="2026-12")
    boards.set_scores(BOARD, {1: 5})
    boards.set_scores(other, {1: 50})
    assert boards.scores(BOARD) == [(1, 5)]
    assert boards.scores(other) == [(1, 50)]
    assert boards.scores(month) == []


def test_out_of_range_ids_and_scores_are_refused(boards):
    with pytest.raises(ValueError):
        member(0)
    with pytest.raises(ValueError):
        boards.set_scores(BOARD, {1: 2**60})


CREATED_ADULT = datetime(2026, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("consent", "opted_in_at", "birth", "created", "today", "appears"),
    [
        # no consent: never
        (False, CREATED_ADULT, date(1990, 1, 1), CREATED_ADULT, date(2026, 6, 1), False),
        # an adult from the start: the bank's consent is enough
        (True, None, date(1990, 1, 1), CREATED_ADULT, date(2026, 6, 1), True),
        # a minor with consent from the enrolment file: never by default
        (True, None, date(2010, 5, 1), CREATED_ADULT, date(2026, 6, 1), False),
        # a minor who opted in themself after the account was created
        (True, datetime(2026, 2, 1, tzinfo=UTC), date(2010, 5, 1), CREATED_ADULT,
         date(2026, 6, 1), True),
        # an "opt-in" dated before the account existed was not the cardholder's own
        (True, datetime(2025, 12, 1, tzinfo=UTC), date(2010, 5, 1), CREATED_ADULT,
         date(2026, 6, 1), False),
        # created as a minor, adult now: the file's consent still does not count
        (True, None, date(2008, 1, 20), CREATED_ADULT, date(2026, 6, 1), False),
        # 18 on the day the account was created: an adult at creation
        (True, None, date(2008, 1, 10), CREATED_ADULT, date(2026, 6, 1), True),
        # birth date unknown: treated as a minor
        (True, None, None, CREATED_ADULT, date(2026, 6, 1), False),
        (True, datetime(2026, 3, 1, tzinfo=UTC), None, CREATED_ADULT, date(2026, 6, 1), True),
    ],
)  # fmt: skip
def test_who_may_appear(consent, opted_in_at, birth, created, today, appears):
    assert (
        may_appear(
            consent=consent,
            opted_in_at=opted_in_at,
            birth_date=birth,
            created_at=created,
            today=today,
        )
        is appears
    )


def test_age_counts_completed_years_and_leap_day_birthdays():
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18
    assert age_on(date(2008, 6, 1), date(2026, 6, 1)) == 18
    assert age_on(date(2008, 6, 2), date(2026, 6, 1)) == 17
