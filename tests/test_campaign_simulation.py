"""Campaign simulation: the same points as processing for real, sync and as a job, validated."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from api.resources import campaign_insights
from campaigns.earning.simulate import simulate
from rewards.db import db
from rewards.models import LedgerEntry, Transaction
from tests.conftest import bearer, make_token
from tests.factories import ProgramFactory
from tests.ledger_helpers import all_ids, enrol, store
from workers.jobs import process_transactions

NOW = datetime.now(UTC)
START = NOW - timedelta(days=21)
END = NOW - timedelta(days=1)
MCCS = ("5812", "5411", "5732", "5814", "5999")


def _history(program_id: int, count: int = 300, customers: int = 10) -> list[int]:
    """`count` purchases over [START, END), stored `received` in occurred_at order."""
    rng = random.Random(7)
    cards = [enrol(program_id) for _ in range(customers)]
    step = (END - START) / count
    ids = []
    for n in range(count):
        tx_id = store(
            program_id,
            rng.choice(cards).token,
            f"h-{n}",
            amount_minor=rng.randrange(300, 6000),
            mcc=rng.choice(MCCS),
            merchant_id=f"m-{rng.randrange(25)}",
            merchant_name=f"Shop {n % 25}",
            occurred_at=START + step * n,
        )
        ids.append(tx_id)
    return ids


def _parts(campaign_id: int) -> list[dict]:
    """The campaign's parts of the bonus lots in the ledger."""
    return [
        part
        for explanation in db.session.scalars(
            select(LedgerEntry.explanation).where(LedgerEntry.kind == "bonus")
        )
        for part in explanation["campaigns"]
        if part["campaign_id"] == campaign_id
    ]


def _granted(campaign_id: int) -> int:
    return sum(part["points"] for part in _parts(campaign_id))


def test_simulation_equals_processing_for_real(db, program, launch):
    main = launch(
        caps={"per_customer": [{"period": "week", "points": 15_000}]},
        budget_points=200_000,
    )
    other = launch(
        name="Dining bonus",
        conditions={"categories": ["dining"]},
        effect={"type": "fixed_bonus", "value": "25"},
    )
    ids = _history(program.id)
    simulated = simulate(
        program_id=program.id,
        campaign_id=main,
        start=START,
        end=END,
        statuses=("received",),
    )
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0
    for start in range(0, len(ids), 50):
        process_transactions(ids[start : start + 50])
    real_main, real_other = _granted(main), _granted(other)
    assert simulated["points"] == real_main > 0
    # The cap did bite.
    assert any("capped at 15000 pts/week" in part.get("limits", ()) for part in _parts(main))
    assert simulated["other_campaigns_points"] == real_other > 0
    assert simulated["transactions_scanned"] == 300
    # The budget ran out: the date it did, and nothing after it.
    assert real_main == 200_000 and simulated["budget_exhausted_on"] is not None
    assert simulated["per_day"][-1]["date"] == simulated["budget_exhausted_on"]
    assert sum(d["points"] for d in simulated["per_day"]) == real_main
    assert (
        sum(d["transactions"] for d in simulated["per_day"]) == (simulated["transactions_matched"])
    )
    assert simulated["customers_reached"] == 10
    assert len(simulated["top_merchants"]) == 10
    assert sum(c["points"] for c in simulated["top_categories"]) == real_main
    # Once processed, the same history is what the API simulates (the other one live again).
    again = simulate(program_id=program.id, campaign_id=main, start=START, end=END)
    assert again["points"] == real_main and again["other_campaigns_points"] == real_other


def test_a_partner_campaign_simulates_what_it_earns_for_real(
    db, program, launch, client, marketer_headers
):
    """Simulation derives each purchase's partner from its merchant id, as the feed does."""
    partner_merchants = {"m-3", "m-7", "m-11"}
    partner = client.post(
        "/v1/partners",
        headers=marketer_headers,
        json={
            "code": "noodle-bar",
            "name": "Noodle Bar",
            "merchant_ids": sorted(partner_merchants),
        },
    )
    assert partner.status_code == 201, partner.json
    main = launch(
        name="Noodle week",
        conditions={"partners": ["noodle-bar"]},
        effect={"type": "points_per_unit", "value": "2"},
        caps={"per_customer": [{"period": "week", "points": 9_000}]},
    )
    ids = _history(program.id)
    at_partner = db.session.scalar(
        select(func.count())
        .select_from(Transaction)
        .where(Transaction.merchant_id.in_(partner_merchants))
    )
    simulated = simulate(
        program_id=program.id, campaign_id=main, start=START, end=END, statuses=("received",)
    )
    for start in range(0, len(ids), 50):
        process_transactions(ids[start : start + 50])
    assert simulated["points"] == _granted(main) > 0
    # Only purchases at the partner's merchants earn (some fewer once the weekly cap bites).
    assert 0 < simulated["transactions_matched"] == len(_parts(main)) <= at_partner < len(ids)
    assert {m["merchant_id"] for m in simulated["top_merchants"]} == partner_merchants


def _processed_history(program_id: int, launch) -> int:
    draft_target = launch(name="Target", effect={"type": "fixed_bonus", "value": "10"})
    ids = _history(program_id, count=40, customers=4)
    process_transactions(ids)
    return draft_target


def _body(days_back: int = 25, days_to: int = 0) -> dict[str, str]:
    return {
        "from": (NOW - timedelta(days=days_back)).date().isoformat(),
        "to": (NOW + timedelta(days=1 - days_to)).date().isoformat(),
    }


def test_short_ranges_answer_at_once(db, program, launch, client, marketer_headers):
    campaign_id = _processed_history(program.id, launch)
    response = client.post(
        f"/v1/campaigns/{campaign_id}/simulate", json=_body(), headers=marketer_headers
    )
    assert response.status_code == 200, response.json
    assert response.json["points"] == 400 and response.json["transactions_matched"] == 40
    assert response.json["transactions_scanned"] == 40
    # Nothing written: still exactly the real bonuses.
    assert (
        db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "bonus")
        )
        == 40
    )


def test_long_ranges_run_as_a_job(
    db, program, launch, client, marketer_headers, run_jobs, monkeypatch
):
    campaign_id = _processed_history(program.id, launch)
    sync = client.post(
        f"/v1/campaigns/{campaign_id}/simulate", json=_body(), headers=marketer_headers
    ).json
    monkeypatch.setattr(campaign_insights, "SYNC_LIMIT", 10)
    queued = client.post(
        f"/v1/campaigns/{campaign_id}/simulate", json=_body(), headers=marketer_headers
    )
    assert queued.status_code == 202, queued.json
    assert queued.json["job_id"].startswith("sim-")
    status_url = queued.json["status_url"]
    assert client.get(status_url, headers=marketer_headers).json["status"] == "queued"
    run_jobs()
    done = client.get(status_url, headers=marketer_headers)
    assert done.status_code == 200 and done.json["status"] == "finished"
    result = done.json["result"]
    for body in (sync, result):
        body.pop("duration_ms")
    assert result == sync and sync["points"] == 400
    # Another campaign's URL, or an unknown id, is not found.
    other = launch(name="Other")
    wrong = status_url.replace(f"/campaigns/{campaign_id}/", f"/campaigns/{other}/")
    assert client.get(wrong, headers=marketer_headers).status_code == 404
    unknown = f"/v1/campaigns/{campaign_id}/simulations/sim-nope"
    assert client.get(unknown, headers=marketer_headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "2026-05-02", "to": "2026-05-02"}, "to"),
        ({"from": "2026-05-02T10:00:00Z", "to": "2026-05-02T09:00:00Z"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-03"}, "to"),
        ({"from": "yesterday", "to": "2026-01-03"}, "from"),
        ({"to": "2026-01-03"}, "from"),
    ],
)
def test_bad_ranges_are_named(db, program, launch, client, marketer_headers, body, field):
    campaign_id = launch()
    response = client.post(
        f"/v1/campaigns/{campaign_id}/simulate", json=body, headers=marketer_headers
    )
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json


def test_marketers_of_the_program_only(db, program, launch, client, cardholder_headers):
    campaign_id = launch()
    url = f"/v1/campaigns/{campaign_id}/simulate"
    assert client.post(url, json=_body(), headers=cardholder_headers).status_code == 403
    ProgramFactory(slug="elsewhere")
    db.session.commit()
    stranger = bearer(make_token(sub="mkt-2", program="elsewhere", roles=["marketer"]))
    assert client.post(url, json=_body(), headers=stranger).status_code == 404
    assert client.get(f"/v1/campaigns/{campaign_id}/stats", headers=stranger).status_code == 404


def test_a_draft_is_simulated_over_history_before_its_window(
    db, program, launch, client, marketer_headers
):
    _processed_history(program.id, launch)
    draft = client.post(
        "/v1/campaigns",
        headers=marketer_headers,
        json={
            "name": "Next month",
            "starts_at": (NOW + timedelta(days=30)).isoformat(),
            "effect": {"type": "fixed_bonus", "value": "5"},
            "budget_points": 120,
        },
    ).json["id"]
    response = client.post(
        f"/v1/campaigns/{draft}/simulate", json=_body(), headers=marketer_headers
    )
    assert response.status_code == 200, response.json
    assert response.json["points"] == 120 and response.json["transactions_matched"] == 24
    assert response.json["budget_exhausted_on"] is not None
    assert response.json["other_campaigns_points"] == 400
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == len(all_ids())


def test_embedded_mode_simulates_inline_and_reads_stats(tmp_path, monkeypatch):
    """SQLite, no Redis: even a "long" range answers at once, and stats read the ledger."""
    from flask_migrate import upgrade

    from api import create_app
    from rewards.db import db as embedded_db
    from tests.conftest import JWT_SECRET

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/embedded.sqlite3",
            "REDIS_URL": None,
            "JOBS_INLINE": True,
            "JWT_SECRET": JWT_SECRET,
            "RATELIMIT_ENABLED": False,
        }
    )
    monkeypatch.setattr(campaign_insights, "SYNC_LIMIT", 0)
    with app.app_context():
        upgrade(directory=app.config["MIGRATIONS_DIR"])
        program = ProgramFactory(slug="embedded")
        embedded_db.session.commit()
        program_id = program.id
        headers = bearer(make_token(sub="mkt-1", program="embedded", roles=["marketer"]))
        client = app.test_client()
        created = client.post(
            "/v1/campaigns",
            headers=headers,
            json={
                "name": "Plus 5",
                "starts_at": (NOW - timedelta(days=30)).isoformat(),
                "effect": {"type": "fixed_bonus", "value": "5"},
            },
        )
        campaign_id = created.json["id"]
        assert client.post(f"/v1/campaigns/{campaign_id}/activate", headers=headers).status_code
        card = enrol(program_id)
        ids = [
            store(program_id, card.token, f"e-{n}", occurred_at=NOW - timedelta(days=n + 1))
            for n in range(3)
        ]
        process_transactions(ids)
        simulated = client.post(
            f"/v1/campaigns/{campaign_id}/simulate", json=_body(), headers=headers
        )
        assert simulated.status_code == 200, simulated.json
        assert simulated.json["points"] == 15 and simulated.json["customers_reached"] == 1
        stats = client.get(f"/v1/campaigns/{campaign_id}/stats", headers=headers).json
        assert stats["points_issued"] == 15 and len(stats["per_day"]) == 3
        embedded_db.session.remove()
