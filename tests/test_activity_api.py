"""GET /v1/me/activity: one newest-first feed across the ledger, challenges, badges and
level/tier events, in plain words; pages that neither skip nor repeat; strict cursors; only
the caller's own items."""

from __future__ import annotations

from datetime import UTC, datetime

from rewards.db import db
from rewards.models import Event
from tests.conftest import bearer, make_token
from tests.ledger_helpers import enrol, store
from tests.xp_helpers import badge, challenge, completed, configure
from workers.jobs import process_transactions

GROCERIES = "5411"
MARCH_1 = datetime(2026, 3, 1, 10, tzinfo=UTC)
MARCH_5 = datetime(2026, 3, 5, 9, tzinfo=UTC)


def _history(program, client, marketer_headers):
    """cust-1: a purchase (level 2, first-purchase badge), a challenge completed with points
    and one without (both at 2 March 12:00), a partial refund, and a tier change."""
    configure(client, marketer_headers, per_point="0.1", levels=[(0, "Rookie"), (50, "Explorer")])
    badge(program.id, "First tap", {"type": "first_purchase"})
    card = enrol(program.id, external_ref="cust-1")
    process_transactions(
        [
            store(
                program.id, card.token, "p-1", amount_minor=1000, mcc=GROCERIES, occurred_at=MARCH_1
            )
        ]
    )
    coffees = challenge(program.id, "Buy 3 coffees this week")
    stamps = challenge(program.id, "Visit 3 shops")
    completed(card.customer_id, coffees, "w:2026-W10", reward=200)
    completed(card.customer_id, stamps, "c")
    refund = store(
        program.id,
        card.token,
        "r-1",
        kind="refund",
        amount_minor=400,
        mcc=GROCERIES,
        original_external_id="p-1",
        occurred_at=MARCH_5,
    )
    process_transactions([refund])
    db.session.add(
        Event(
            program_id=program.id,
            customer_id=card.customer_id,
            type="customer.tier_changed",
            key="tier:test:1",
            payload={  # as rewards.tiers.standing writes it
                "summary": "You reached Gold",
                "direction": "upgrade",
                "from": {"code": "green", "name": "Green"},
                "to": {"code": "gold", "name": "Gold"},
            },
            created_at=datetime(2026, 3, 3, tzinfo=UTC),
        )
    )
    other = enrol(program.id, external_ref="cust-2")  # someone else's activity: never shown
    process_transactions([store(program.id, other.token, "q-1", amount_minor=5000, mcc=GROCERIES)])
    db.session.commit()
    return card


def _all(client, headers, limit):
    items, cursor = [], None
    for _ in range(50):
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/me/activity", query_string=query, headers=headers)
        assert page.status_code == 200, page.json
        assert len(page.json["data"]) <= limit
        items += page.json["data"]
        cursor = page.json["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def test_one_feed_newest_first_in_plain_words(
    db, program, client, marketer_headers, cardholder_headers
):
    _history(program, client, marketer_headers)
    items = _all(client, cardholder_headers, 100)
    titles = [i["title"] for i in items]
    # Processed today: the level-up and the badge (their order is that of their own clocks).
    assert set(titles[:2]) == {"Level 2 reached: Explorer", "Badge earned: First tap"}
    assert [(i["type"], i.get("points")) for i in items[2:]] == [
        ("points_clawed_back", -400),  # 5 March
        ("tier_changed", None),  # 3 March
        ("challenge_completed", 200),  # 2 March 12:00, ledger before challenge at equal times
        ("challenge_completed", None),
        ("points_earned", 1000),  # 1 March
    ]
    assert titles[3:6] == [
        "You reached Gold",
        "Challenge completed: Buy 3 coffees this week (+200 pts)",
        "Challenge completed: Visit 3 shops",
    ]
    assert "Refund" in titles[2] and "400" in titles[2]
    assert items[-1]["occurred_at"] == "2026-03-01T10:00:00Z"
    assert len({i["id"] for i in items}) == len(items)
    moments = [i["occurred_at"] for i in items]
    assert moments == sorted(moments, reverse=True)
    # The points items carry nothing of cust-2's 5,000-point purchase.
    assert all(i.get("points") != 5000 for i in items)


def test_pages_of_any_size_neither_skip_nor_repeat(
    db, program, client, marketer_headers, cardholder_headers
):
    _history(program, client, marketer_headers)
    everything = _all(client, cardholder_headers, 100)
    assert len(everything) == 7
    for limit in (1, 2, 3):
        assert _all(client, cardholder_headers, limit) == everything


def test_foreign_or_broken_cursors_are_a_422_naming_cursor(
    db, program, client, marketer_headers, cardholder_headers
):
    _history(program, client, marketer_headers)
    ledger = client.get("/v1/me/ledger?limit=1", headers=cardholder_headers).json["next_cursor"]
    for cursor in (ledger, "nonsense", "YTE6eHx5fHo", "%%%"):
        response = client.get(
            "/v1/me/activity", query_string={"cursor": cursor}, headers=cardholder_headers
        )
        assert response.status_code == 422, cursor
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert "cursor" in str(response.json["errors"])


def test_another_programs_customer_with_the_same_ref_sees_only_their_own(
    db, program, client, marketer_headers
):
    from tests.factories import ProgramFactory

    _history(program, client, marketer_headers)
    other = ProgramFactory(slug="other", pending_days=0, expiry_months=12)
    db.session.commit()
    enrol(other.id, external_ref="cust-1")
    theirs = bearer(make_token(sub="cust-1", program="other", roles=["cardholder"]))
    response = client.get("/v1/me/activity", headers=theirs)
    assert response.status_code == 200 and response.json == {"data": [], "next_cursor": None}


def test_unknown_cardholder_is_a_404(client, cardholder_headers):
    response = client.get("/v1/me/activity", headers=cardholder_headers)
    assert response.status_code == 404


def test_many_items_at_one_moment_page_without_skipping_or_repeating(db, program, client):
    """One purchase passes half of six challenges and completes four that give no points, all
    at its own moment: every page size still lists each item exactly once."""
    from tests.challenge_feed_helpers import buy, make_challenge

    halfway = [
        make_challenge(program.id, name=f"Half {n}", goal={"type": "count", "target": 2})
        for n in range(6)
    ]
    done = [
        make_challenge(
            program.id, name=f"Done {n}", goal={"type": "count", "target": 1}, reward={"xp": 5}
        )
        for n in range(4)
    ]
    card = enrol(program.id, external_ref="cust-1")
    buy(card, "p-1", MARCH_1)
    headers = bearer(make_token(sub="cust-1", program=program.slug, roles=["cardholder"]))
    everything = _all(client, headers, 100)
    expected = {f"Halfway there: Half {n} (1 of 2)" for n in range(6)} | {
        f"Challenge completed: Done {n}" for n in range(4)
    }
    assert expected <= {i["title"] for i in everything}
    assert len(halfway) + len(done) == len(expected)
    for limit in (1, 2, 3, 4, 7):
        paged = _all(client, headers, limit)
        assert [i["id"] for i in paged] == [i["id"] for i in everything], limit
