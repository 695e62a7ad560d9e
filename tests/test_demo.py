"""`rewards demo` (`make run`): seeds a realistic program whose campaigns really earn, prints
working credentials once per run, reuses them on a re-run, and refuses a busy port first."""

from __future__ import annotations

import csv
import socket
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jwt
import pytest
from flask import Flask

from api import create_app
from rewards.db import db

TOKYO = ZoneInfo("Asia/Tokyo")
DINING = {"5812", "5814"}


@pytest.fixture
def demo_app(tmp_path) -> Iterator[Flask]:
    """The embedded app as `make run` builds it, with its instance folder in tmp_path."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/rewards.sqlite3",
            "REDIS_URL": None,
            "JOBS_INLINE": True,
            "JWT_SECRET": None,
            "JWT_JWKS_URL": None,
            "RATELIMIT_ENABLED": False,
        }
    )
    app.instance_path = str(tmp_path)
    yield app
    with app.app_context():
        db.session.remove()


def run_demo(app: Flask, *args: str):
    # The suite's PostgreSQL app context is pushed for the whole session; the command must
    # see the embedded app instead.
    with app.app_context():
        return app.test_cli_runner().invoke(args=["demo", *args])


def credentials(output: str) -> dict[str, str]:
    """The lines printed after each label."""
    lines = output.splitlines()
    found = {}
    for label, key in (
        ("Cardholder JWT", "cardholder"),
        ("Marketer JWT", "marketer"),
        ("Admin JWT", "admin"),
        ("Processor API key", "processor"),
        ("Partner API key", "partner"),
    ):
        at = next(i for i, line in enumerate(lines) if line.startswith(label))
        found[key] = lines[at + 1].strip()
    return found


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sample_rows(tmp_path: Path) -> list[dict[str, str]]:
    with (tmp_path / "demo_transactions.csv").open() as source:
        return list(csv.DictReader(source))


def test_demo_seeds_campaigns_whose_effects_show_in_the_ledgers(demo_app, tmp_path):
    result = run_demo(demo_app, "--no-serve")
    assert result.exit_code == 0, result.output + str(result.exception)
    keys = credentials(result.output)
    client = demo_app.test_client()
    marketer = auth(keys["marketer"])

    campaigns = client.get("/v1/campaigns", headers=marketer).json["data"]
    assert sorted(c["name"] for c in campaigns) == [
        "Dining 2x",
        "Star Cinema 3x (activate to earn)",
        "Weekend coffee",
    ]
    assert {c["status"] for c in campaigns} == {"active"}
    assert len(client.get("/v1/segments", headers=marketer).json["data"]) == 1
    assert len(client.get("/v1/partners", headers=marketer).json["data"]) == 2

    secret = (tmp_path / "dev_jwt_secret").read_text().strip()
    points = bonus_points_by_campaign(client, secret, campaigns)
    rows = sample_rows(tmp_path)
    # Independent figures from the sample file: 3x at the cinema is 2 bonus points per yen
    # (Alice activated the offer before her purchases; the others did not), 50 points per
    # weekend coffee (Tokyo time), and 2x dining is 1 bonus point per yen up to 1,000 a week.
    assert points["demo-alice"]["Star Cinema 3x (activate to earn)"] == 2 * spent(
        rows, "demo-alice", merchant="m-cinema"
    )
    assert points["demo-alice"]["Star Cinema 3x (activate to earn)"] > 0
    for ref in ("demo-bob", "demo-chika"):
        assert points[ref]["Star Cinema 3x (activate to earn)"] == 0
        assert points[ref]["Dining 2x"] == dining_bonus(rows, ref)
    for ref in ("demo-alice", "demo-bob", "demo-chika"):
        assert points[ref]["Weekend coffee"] == 50 * weekend_coffees(rows, ref)
    assert sum(p["Weekend coffee"] for p in points.values()) > 0
    assert any(p["Dining 2x"] for p in points.values())


def test_demo_perks_can_be_spent_on_and_confirmed_at_the_till(demo_app):
    result = run_demo(demo_app, "--no-serve")
    assert result.exit_code == 0, result.output + str(result.exception)
    keys = credentials(result.output)
    client = demo_app.test_client()
    alice, partner = auth(keys["cardholder"]), auth(keys["partner"])

    catalog = client.get("/v1/me/perks", headers=alice).json["data"]
    vouchers = client.get("/v1/me/vouchers", headers=alice).json["data"]
    own = client.get("/v1/partner/perks", headers=partner).json["data"]
    gyoza = next(p for p in catalog if p["title"] == "Free gyoza")
    redeemed = client.post(
        "/v1/me/redemptions",
        json={"perk_id": gyoza["id"]},
        headers={**alice, "Idempotency-Key": "demo-test"},
    )
    till = client.post(
        f"/v1/partner/vouchers/{redeemed.json['voucher']['code']}/redeem", headers=partner
    )

    assert len(catalog) == 4 and gyoza["redeemable"]
    assert [(v["title"], v["status"]) for v in vouchers] == [("Movie ticket", "issued")]
    assert vouchers[0]["code"].startswith("STAR-CINEMA-")
    assert sorted(p["title"] for p in own) == ["Free gyoza", "Ramen for two"]
    assert redeemed.status_code == 201, redeemed.json
    assert till.status_code == 200 and till.json["title"] == "Free gyoza"


def test_demo_special_rows_are_realistic(demo_app, tmp_path):
    assert run_demo(demo_app, "--no-serve").exit_code == 0
    rows = {row["external_id"]: row for row in sample_rows(tmp_path)}

    refund = rows["demo-refund-1"]
    bought = rows[refund["original_external_id"]]
    assert (refund["kind"], bought["kind"]) == ("refund", "purchase")
    assert refund["card_token"] == bought["card_token"]
    assert refund["merchant_id"] == bought["merchant_id"]
    assert 0 < int(refund["amount_minor"]) <= int(bought["amount_minor"])
    assert refund["occurred_at"] > bought["occurred_at"]
    assert rows["demo-atm-1"]["mcc"] == "6011"
    assert "ATM" in rows["demo-atm-1"]["merchant_name"]
    assert rows["demo-unknown-card"]["merchant_name"] != "Noodle Bar"
    with demo_app.app_context():
        statuses = dict(
            db.session.execute(
                db.text("SELECT external_id, status FROM transactions WHERE external_id IN "
                        "('demo-refund-1', 'demo-atm-1', 'demo-unknown-card')")
            ).all()
        )  # fmt: skip
    assert statuses == {
        "demo-refund-1": "processed",
        "demo-atm-1": "excluded",
        "demo-unknown-card": "unmatched",
    }


def test_a_second_run_reuses_the_processor_key_and_seeds_nothing_twice(demo_app):
    first = run_demo(demo_app, "--no-serve")
    second = run_demo(demo_app, "--no-serve")

    assert second.exit_code == 0
    assert credentials(second.output)["processor"] == credentials(first.output)["processor"]
    assert "from an earlier run" in second.output
    client = demo_app.test_client()
    key = auth(credentials(second.output)["processor"])
    batch = client.get("/v1/batches/1", headers=key)
    assert batch.status_code == 200
    assert client.get("/v1/batches/2", headers=key).status_code == 404
    balance = client.get("/v1/me/balance", headers=auth(credentials(second.output)["cardholder"]))
    assert balance.status_code == 200
    assert balance.json["available"] > 0


def test_a_busy_port_is_refused_before_anything_is_seeded_or_printed(demo_app, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_demo(demo_app, "--port", str(port))

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: port {port} is already in use (another `make run`?); "
        f"stop it or pick another port: make run PORT={port + 1}"
    )
    assert "JWT" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- independent expectations from the sample file ------------------------------------------


def bonus_points_by_campaign(client, secret, campaigns) -> dict[str, dict[str, int]]:
    """Bonus points per cardholder and campaign name, read from each cardholder's ledger."""
    names = {c["id"]: c["name"] for c in campaigns}
    totals: dict[str, dict[str, int]] = {}
    for ref in ("demo-alice", "demo-bob", "demo-chika"):
        token = mint(secret, ref)
        per_campaign = dict.fromkeys(names.values(), 0)
        cursor = None
        while True:
            url = "/v1/me/ledger?limit=100&kind=bonus" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(url, headers=auth(token)).json
            for entry in page["data"]:
                for part in entry["details"]["campaigns"]:
                    per_campaign[names[part["campaign_id"]]] += part["points"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        totals[ref] = per_campaign
    return totals


def mint(secret: str, ref: str) -> str:
    """A cardholder token signed with the demo's secret (kept in the instance folder)."""
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": ref, "program": "demo", "roles": ["cardholder"], "iat": now, "exp": now + 600}
    return jwt.encode(claims, secret, algorithm="HS256")


def _purchases(rows, ref):
    return [r for r in rows if r["card_token"] == f"tok_{ref}" and r["kind"] == "purchase"]


def spent(rows, ref, *, merchant: str) -> int:
    return sum(
        int(r["amount_minor"]) for r in _purchases(rows, ref) if r["merchant_id"] == merchant
    )


def weekend_coffees(rows, ref) -> int:
    return sum(
        1
        for r in _purchases(rows, ref)
        if r["merchant_id"] == "m-coffee"
        and datetime.fromisoformat(r["occurred_at"]).astimezone(TOKYO).isoweekday() >= 6
    )


def dining_bonus(rows, ref) -> int:
    """1 bonus point per yen of dining, at most 1,000 per Tokyo ISO week."""
    weeks: dict[tuple[int, int], int] = defaultdict(int)
    for r in _purchases(rows, ref):
        if r["mcc"] in DINING:
            local = datetime.fromisoformat(r["occurred_at"]).astimezone(TOKYO)
            weeks[local.isocalendar()[:2]] += int(r["amount_minor"])
    return sum(min(1000, spent_in_week) for spent_in_week in weeks.values())


def test_the_demo_partner_receives_its_events_on_this_machine(demo_app, monkeypatch):
    from tests.webhook_helpers import receiving

    monkeypatch.delenv("WEBHOOK_REQUIRE_HTTPS", raising=False)
    result = run_demo(demo_app, "--no-serve")
    assert result.exit_code == 0, result.output + str(result.exception)
    keys = credentials(result.output)
    client = demo_app.test_client()
    alice, partner = auth(keys["cardholder"]), auth(keys["partner"])
    with receiving() as receiver:
        made = client.post(
            "/v1/partner/webhook-endpoints",
            json={"url": receiver.url(), "event_types": ["perk.redeemed"]},
            headers=partner,
        )
        assert made.status_code == 201, made.json
        gyoza = next(
            p for p in client.get("/v1/me/perks", headers=alice).json["data"]
            if p["title"] == "Free gyoza"
        )  # fmt: skip
        client.post("/v1/me/redemptions", json={"perk_id": gyoza["id"]},
                    headers={**alice, "Idempotency-Key": "hook"})  # fmt: skip
        with demo_app.app_context():
            sent = demo_app.test_cli_runner().invoke(args=["webhooks", "send"])
    assert "1 delivered" in sent.output, sent.output
    assert [r.path for r in receiver.received] == ["/hooks"]
