"""GET /v1/leaderboards and /v1/leaderboards/{id} over HTTP, on the real PostgreSQL and Redis:
who others see, what the caller sees of themself, ranks and ties, neighbours, programs kept
apart. Expected rankings are sorted here by hand (`expected_ranking`)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from flask_migrate import upgrade

from api import create_app
from campaigns.leaderboards.catalogue import program_boards
from campaigns.leaderboards.reading import read_board
from campaigns.leaderboards.store import Board, Leaderboards
from rewards.db import db as _db
from rewards.models import Customer
from tests.conftest import JWT_SECRET
from tests.factories import ProgramFactory
from tests.leaderboard_helpers import (
    ADULT,
    MINOR,
    challenge,
    expected_ranking,
    headers_of,
    person,
    progress,
)

ENTRY_KEYS = {"rank", "nickname", "score", "you"}


def _read(client, ref: str, board: str = "xp-all", program: str = "youth", **query) -> dict:
    response = client.get(
        f"/v1/leaderboards/{board}", query_string=query, headers=headers_of(ref, program)
    )
    assert response.status_code == 200, response.json
    _assert_nothing_personal(response.get_data(as_text=True), response.json)
    return response.json


def _assert_nothing_personal(raw: str, body: dict) -> None:
    """No external ref, birth date or spend anywhere in the raw JSON; entries carry exactly
    rank, nickname, score and you."""
    assert "ref-" not in raw
    for year in ("1995", "2012", "2008"):
        assert year not in raw
    for word in ("external", "birth", "age", "amount", "spend", "minor"):
        assert word not in raw.lower().replace("leaderboard", "")
    for entry in body["top"] + body["around"]:
        assert set(entry) == ENTRY_KEYS
    assert body["you"] is None or set(body["you"]) == {"rank", "score", "visible"}


def _lines(entries: list[dict]) -> list[tuple]:
    return [(e["rank"], e["nickname"], e["score"], e["you"]) for e in entries]


def test_privacy_decides_who_others_see_and_the_caller_always_sees_their_own_rank(
    client, db, program
):
    person(program, "ref-adult", xp=50)  # an adult from the start, the bank's consent
    person(program, "ref-kid", xp=90, birth=MINOR)  # a minor, only the bank's consent
    person(program, "ref-teen", xp=70, birth=MINOR, opted_in=True)  # a minor who opted in
    person(program, "ref-shy", xp=60, consent=False)
    person(program, "ref-nodate", xp=80, birth=None)  # age unknown: as a minor
    person(program, "ref-closed", xp=100, status="closed")
    person(program, "ref-viewer", xp=10)
    db.session.commit()

    body = _read(client, "ref-viewer")
    assert body["members"] == 3
    assert _lines(body["top"]) == [
        (1, "Teen", 70, False),
        (2, "Adult", 50, False),
        (3, "Viewer", 10, True),
    ]
    assert body["you"] == {"rank": 3, "score": 10, "visible": True}
    assert _lines(body["around"]) == _lines(body["top"])  # two neighbours above, none below

    # The minor with the bank's consent sees where they would rank; nobody else sees them.
    kid = _read(client, "ref-kid")
    assert kid["you"] == {"rank": 1, "score": 90, "visible": False}
    assert _lines(kid["around"]) == [
        (1, "Kid", 90, True),
        (1, "Teen", 70, False),
        (2, "Adult", 50, False),
    ]
    assert "Kid" not in str(kid["top"]) and kid["members"] == 3
    shy = _read(client, "ref-shy")
    assert shy["you"] == {"rank": 2, "score": 60, "visible": False}
    assert _lines(shy["around"]) == [
        (1, "Teen", 70, False),
        (2, "Shy", 60, True),
        (2, "Adult", 50, False),
        (3, "Viewer", 10, False),
    ]
    assert "Kid" not in str(_read(client, "ref-viewer"))

    # The minor opts in themself (PATCH /v1/me): from their next read on, others see them.
    kid_row = db.session.scalar(db.select(Customer).filter_by(external_ref="ref-kid"))
    kid_row.leaderboard_opted_in_at = datetime.now(UTC)
    db.session.commit()
    assert _read(client, "ref-kid")["you"] == {"rank": 1, "score": 90, "visible": True}
    assert _lines(_read(client, "ref-viewer")["top"])[0] == (1, "Kid", 90, False)

    # The adult withdraws consent: the next reader no longer sees them, ranks close up.
    adult = db.session.scalar(db.select(Customer).filter_by(external_ref="ref-adult"))
    adult.consent_leaderboard = False
    db.session.commit()
    body = _read(client, "ref-viewer")
    assert _lines(body["top"]) == [
        (1, "Kid", 90, False),
        (2, "Teen", 70, False),
        (3, "Viewer", 10, True),
    ]
    assert body["members"] == 3


def test_ranking_and_ties_match_an_independent_sort_and_neighbours_surround_the_caller(
    client, db, program
):
    rng = random.Random(9)
    people = [
        person(
            program,
            f"ref-p{n}",
            xp=rng.choice([0, 5, 20, 20, 20, 45, 45, 80]),
            consent=rng.random() < 0.8,
        )
        for n in range(60)
    ]
    db.session.commit()
    shown = {c.id: c.xp for c in people if c.consent_leaderboard}
    ranking = expected_ranking(shown)
    name = {c.id: c.nickname for c in people}
    expected_top = [(i + 1, name[c], s) for i, (c, s) in enumerate(ranking)]

    for caller in (ranking[0][0], ranking[1][0], ranking[len(ranking) // 2][0], ranking[-1][0]):
        ref = next(c.external_ref for c in people if c.id == caller)
        body = _read(client, ref, limit=100)
        assert body["members"] == len(ranking)
        assert [(e["rank"], e["nickname"], e["score"]) for e in body["top"]] == expected_top
        at = [c for c, _ in ranking].index(caller)
        assert body["you"] == {"rank": at + 1, "score": shown[caller], "visible": True}
        window = expected_top[max(0, at - 2) : at + 3]
        assert [(e["rank"], e["nickname"], e["score"]) for e in body["around"]] == window
        assert [e["you"] for e in body["around"]] == [r == at + 1 for r, _, _ in window]

    assert len(_read(client, people[0].external_ref, limit=3)["top"]) == 3
    assert len(_read(client, people[0].external_ref)["top"]) == min(10, len(ranking))


def test_the_embedded_ranking_from_postgresql_is_the_redis_ranking(app, db, program):
    rng = random.Random(4)
    people = [
        person(
            program,
            f"ref-e{n}",
            xp=rng.choice([0, 3, 3, 8, 13]),
            birth=rng.choice([MINOR, None, ADULT]),
        )
        for n in range(40)
    ]
    db.session.commit()
    store = Leaderboards(current_app.extensions["rewards_queues"].redis, app.config["QUEUE_PREFIX"])
    now = datetime.now(UTC)
    for caller in people[:12]:
        views = [
            read_board(customer=caller, board_id=b, limit=5, store=s, now=now, secret=b"k")
            for b in ("xp-all", "xp-week")
            for s in (store, None)
        ]
        assert views[0] == views[1] and views[2] == views[3]
        assert views[0].top and views[0].members > 5


def test_a_customer_without_a_nickname_gets_a_stable_player_number(client, db, program):
    person(program, "ref-anon", xp=30, nickname=None)
    person(program, "ref-viewer", xp=10)
    db.session.commit()
    first = _read(client, "ref-viewer")["top"][0]["nickname"]
    assert first.startswith("Player ") and len(first) == len("Player 1234")
    assert _read(client, "ref-anon")["top"][0]["nickname"] == first


def test_challenge_boards_rank_the_current_period_for_those_the_challenge_is_for(
    client, db, program
):
    weekly = challenge(program, name="Three coffees")
    adults = challenge(program, name="Adults only", period=None, audience={"min_age": 18})
    challenge(program, name="Draft", status="draft")
    local = datetime.now(UTC).astimezone(ZoneInfo(program.timezone)).date()
    year, week, _ = local.isocalendar()
    this_week = f"w:{year}-W{week:02d}"
    a = person(program, "ref-a")
    b = person(program, "ref-b")
    kid = person(program, "ref-kid", birth=MINOR, opted_in=True)
    progress(a, weekly.id, this_week, 2)
    progress(b, weekly.id, this_week, 3)
    progress(a, weekly.id, "w:2020-W01", 9)  # a past week does not count
    progress(kid, weekly.id, this_week, 1)
    progress(a, adults.id, "c", 4)
    db.session.commit()

    listed = client.get("/v1/leaderboards", headers=headers_of("ref-a")).json["data"]
    assert [x["id"] for x in listed] == [
        "xp-week",
        "xp-month",
        "xp-all",
        f"challenge-{weekly.id}",
        f"challenge-{adults.id}",
    ]
    assert listed[3]["title"] == "Three coffees" and listed[3]["period"] == this_week
    kid_list = client.get("/v1/leaderboards", headers=headers_of("ref-kid")).json["data"]
    assert f"challenge-{adults.id}" not in [x["id"] for x in kid_list]

    body = _read(client, "ref-a", f"challenge-{weekly.id}")
    assert body["period"] == this_week
    assert _lines(body["top"]) == [(1, "B", 3, False), (2, "A", 2, True), (3, "Kid", 1, False)]
    assert _read(client, "ref-a", f"challenge-{adults.id}")["you"]["score"] == 4
    gone = client.get(f"/v1/leaderboards/challenge-{adults.id}", headers=headers_of("ref-kid"))
    assert gone.status_code == 404


def test_other_programs_and_unknown_boards_are_not_found(client, db, program):
    other = ProgramFactory(slug="other")
    theirs = challenge(other, name="Theirs")
    person(other, "ref-them", xp=500)
    person(program, "ref-me", xp=5)
    db.session.commit()

    body = _read(client, "ref-me")
    assert _lines(body["top"]) == [(1, "Me", 5, True)]
    for board in (
        f"challenge-{theirs.id}",
        "challenge-999999",
        "xp-year",
        "challenge-01",
        "XP-ALL",
    ):
        response = client.get(f"/v1/leaderboards/{board}", headers=headers_of("ref-me"))
        assert response.status_code == 404, board
        assert response.content_type == "application/problem+json"
    mine = client.get("/v1/leaderboards", headers=headers_of("ref-me")).json["data"]
    assert f"challenge-{theirs.id}" not in str(mine)
    assert _lines(_read(client, "ref-them", program="other")["top"]) == [(1, "Them", 500, True)]


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_a_bad_limit_is_a_problem_naming_the_field(client, db, program, limit):
    person(program, "ref-me", xp=5)
    _db.session.commit()
    response = client.get(f"/v1/leaderboards/xp-all?limit={limit}", headers=headers_of("ref-me"))
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert "limit" in str(response.json["errors"])


def test_a_caller_without_a_score_sees_the_board_but_no_rank(client, db, program):
    person(program, "ref-top", xp=40)
    person(program, "ref-new")
    db.session.commit()
    body = _read(client, "ref-new", "xp-week")
    assert body["you"] is None and body["around"] == []
    assert _lines(body["top"]) == [(1, "Top", 40, False)]


def test_a_withdrawal_next_to_where_a_hidden_caller_would_rank_takes_effect_at_once(
    client, db, program
):
    # Twelve on the board, so the hidden caller's would-be place (8th) is below a top of 3.
    people = [person(program, f"ref-m{n:02d}", xp=100 - 5 * n) for n in range(12)]
    person(program, "ref-hidden", xp=66, consent=False)
    db.session.commit()
    before = _read(client, "ref-hidden", limit=3)
    assert before["you"] == {"rank": 8, "score": 66, "visible": False}
    assert [e["nickname"] for e in before["around"]] == ["M05", "M06", "Hidden", "M07", "M08"]

    # M07 withdraws (no sync has run): the hidden caller's next read no longer shows them.
    people[7].consent_leaderboard = False
    db.session.commit()
    after = _read(client, "ref-hidden", limit=3)
    assert after["members"] == 11
    assert after["you"] == {"rank": 8, "score": 66, "visible": False}
    assert [(e["rank"], e["nickname"]) for e in after["around"]] == [
        (6, "M05"),
        (7, "M06"),
        (8, "Hidden"),
        (8, "M08"),
        (9, "M09"),
    ]


def test_an_erased_or_unknown_caller_is_not_found(client, db, program):
    person(program, "ref-gone", xp=30, status="erased")
    person(program, "ref-top", xp=40)
    db.session.commit()
    for ref in ("ref-gone", "ref-nobody"):
        for path in ("/v1/leaderboards/xp-all", "/v1/leaderboards"):
            response = client.get(path, headers=headers_of(ref))
            assert response.status_code == 404, (ref, path)
            assert response.content_type == "application/problem+json"


def test_embedded_mode_ranks_from_sqlite_with_the_same_privacy(tmp_path):
    embedded = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/embedded.sqlite3",
            "REDIS_URL": None,
            "JOBS_INLINE": True,
            "JWT_SECRET": JWT_SECRET,
            "RATELIMIT_ENABLED": False,
        }
    )
    with embedded.app_context():
        upgrade(directory=embedded.config["MIGRATIONS_DIR"])
        try:
            place = ProgramFactory(slug="embedded", timezone="Asia/Tokyo")
            person(place, "ref-adult", xp=50)
            person(place, "ref-kid", xp=90, birth=MINOR)
            person(place, "ref-anon", xp=20, nickname=None)
            person(place, "ref-viewer", xp=10)
            _db.session.commit()
            client = embedded.test_client()
            response = client.get(
                "/v1/leaderboards/xp-week", headers=headers_of("ref-viewer", "embedded")
            )
            assert response.status_code == 200, response.json
            body = response.json
            assert [(e["rank"], e["nickname"][:6], e["score"]) for e in body["top"]] == [
                (1, "Adult", 50),
                (2, "Player", 20),
                (3, "Viewer", 10),
            ]
            assert body["you"] == {"rank": 3, "score": 10, "visible": True}
            kid = client.get("/v1/leaderboards/xp-all", headers=headers_of("ref-kid", "embedded"))
            assert kid.json["you"] == {"rank": 1, "score": 90, "visible": False}
            assert kid.json["members"] == 3
        finally:
            _db.session.remove()


def test_opting_in_or_out_puts_the_cardholder_on_or_off_every_board_at_once(
    app, client, db, program
):
    """No chunk and no read in between: the PATCH itself writes the boards (the chunks only
    write customers who may appear, so an opt-out must take effect here)."""
    weekly = challenge(program)
    teen = person(program, "ref-teen", xp=80, birth=MINOR, consent=False, nickname="Teen")
    db.session.commit()
    teen_id, program_id, weekly_id = teen.id, program.id, weekly.id
    boards = Leaderboards(
        current_app.extensions["rewards_queues"].redis, app.config["QUEUE_PREFIX"]
    )
    all_time = Board(program_id, "xp", "all")
    spec = next(
        s for s in program_boards(program_id, datetime.now(UTC)) if s.challenge_id == weekly_id
    )
    progress(_db.session.get(Customer, teen_id), weekly_id, spec.period, 2)
    _db.session.commit()
    assert boards.scores(all_time) == []

    opted_in = client.patch(
        "/v1/me", json={"leaderboard_opt_in": True}, headers=headers_of("ref-teen")
    )
    assert opted_in.status_code == 200, opted_in.json
    assert boards.scores(all_time) == [(teen_id, 80)]
    assert boards.scores(spec.board) == [(teen_id, 2)]

    opted_out = client.patch(
        "/v1/me", json={"leaderboard_opt_in": False}, headers=headers_of("ref-teen")
    )
    assert opted_out.status_code == 200, opted_out.json
    assert boards.scores(all_time) == []
    assert boards.scores(spec.board) == []


def test_a_read_never_shows_someone_who_may_no_longer_appear_however_many_they_are(
    client, db, program
):
    """Four at the top lose the right to appear with no sync in between (an enrolment file
    corrects their birth dates): a read with a top of 1, far below them, takes them off one
    per board read as it meets them and, when they keep coming, ranks from PostgreSQL; none of
    them is ever shown."""
    people = [person(program, f"ref-t{n}", xp=100 - n, nickname=f"T{n}") for n in range(10)]
    db.session.commit()
    assert [e["nickname"] for e in _read(client, "ref-t9", limit=1)["top"]] == ["T0"]
    for gone in people[:4]:
        gone.birth_date = MINOR
    db.session.commit()

    seen = _read(client, "ref-t9", limit=1)

    assert [e["nickname"] for e in seen["top"]] == ["T4"]
    assert [e["nickname"] for e in seen["around"]] == ["T7", "T8", "T9"]
    assert seen["you"]["rank"] == 6 and seen["members"] == 6
