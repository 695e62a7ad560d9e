"""Who may call what, as data: every endpoint × every kind of caller → 401, 403 or allowed.

`ALLOWED_ROLES` must list every `/v1` endpoint of the app (a test checks), so a new endpoint
cannot ship without a decision here. "Allowed" means the call got past authentication and
the role check (any status but 401/403: 200, 404 for a missing object, 422 for an empty body).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from rewards.access import mint_api_key, revoke_api_key
from rewards.models import Batch, Partner
from tests.conftest import bearer, make_token
from tests.factories import CustomerFactory, ProgramFactory

# (method, rule) → roles that may call it.
ALLOWED_ROLES: dict[tuple[str, str], set[str]] = {
    ("GET", "/v1/programs"): {"admin"},
    ("POST", "/v1/programs"): {"admin"},
    ("GET", "/v1/programs/<string:slug>"): {"admin", "marketer"},
    ("PATCH", "/v1/programs/<string:slug>"): {"admin"},
    ("GET", "/v1/api-keys"): {"admin"},
    ("POST", "/v1/api-keys"): {"admin"},
    ("DELETE", "/v1/api-keys/<int:key_id>"): {"admin"},
    ("POST", "/v1/customers"): {"processor"},
    ("GET", "/v1/customers/<string:external_ref>"): {"marketer"},
    ("POST", "/v1/customers/<string:external_ref>/cards"): {"processor"},
    ("POST", "/v1/customers/<string:external_ref>/adjustments"): {"marketer"},
    ("POST", "/v1/transactions"): {"processor"},
    ("POST", "/v1/transaction-files"): {"processor"},
    ("POST", "/v1/customer-files"): {"processor"},
    ("POST", "/v1/feeds/marqeta"): {"processor"},
    ("GET", "/v1/batches/<int:batch_id>"): {"processor"},
    ("GET", "/v1/batches/<int:batch_id>/rejections"): {"processor"},
    ("GET", "/v1/me"): {"cardholder"},
    ("PATCH", "/v1/me"): {"cardholder"},
    ("GET", "/v1/me/balance"): {"cardholder"},
    ("GET", "/v1/me/ledger"): {"cardholder"},
    ("GET", "/v1/me/offers"): {"cardholder"},
    ("POST", "/v1/me/offers/<int:campaign_id>/activate"): {"cardholder"},
    ("GET", "/v1/leaderboards"): {"cardholder"},
    ("GET", "/v1/leaderboards/<string:board_id>"): {"cardholder"},
    ("GET", "/v1/audit-log"): {"marketer", "admin"},
    ("GET", "/v1/campaigns"): {"marketer"},
    ("POST", "/v1/campaigns"): {"marketer"},
    ("GET", "/v1/campaigns/<int:campaign_id>"): {"marketer"},
    ("PATCH", "/v1/campaigns/<int:campaign_id>"): {"marketer"},
    ("GET", "/v1/campaigns/<int:campaign_id>/versions"): {"marketer"},
    ("GET", "/v1/campaigns/<int:campaign_id>/versions/<int:version>"): {"marketer"},
    ("POST", "/v1/campaigns/<int:campaign_id>/activate"): {"marketer"},
    ("POST", "/v1/campaigns/<int:campaign_id>/pause"): {"marketer"},
    ("POST", "/v1/campaigns/<int:campaign_id>/end"): {"marketer"},
    ("POST", "/v1/campaigns/<int:campaign_id>/simulate"): {"marketer"},
    ("GET", "/v1/campaigns/<int:campaign_id>/simulations/<string:job_id>"): {"marketer"},
    ("GET", "/v1/campaigns/<int:campaign_id>/stats"): {"marketer"},
    ("GET", "/v1/segments"): {"marketer"},
    ("POST", "/v1/segments"): {"marketer"},
    ("GET", "/v1/segments/<int:segment_id>"): {"marketer"},
    ("PATCH", "/v1/segments/<int:segment_id>"): {"marketer"},
    ("DELETE", "/v1/segments/<int:segment_id>"): {"marketer"},
    ("GET", "/v1/segments/<int:segment_id>/preview"): {"marketer"},
    ("GET", "/v1/challenges"): {"marketer"},
    ("POST", "/v1/challenges"): {"marketer"},
    ("GET", "/v1/challenges/<int:challenge_id>"): {"marketer"},
    ("PATCH", "/v1/challenges/<int:challenge_id>"): {"marketer"},
    ("GET", "/v1/challenges/<int:challenge_id>/versions"): {"marketer"},
    ("GET", "/v1/challenges/<int:challenge_id>/versions/<int:version>"): {"marketer"},
    ("POST", "/v1/challenges/<int:challenge_id>/activate"): {"marketer"},
    ("POST", "/v1/challenges/<int:challenge_id>/pause"): {"marketer"},
    ("POST", "/v1/challenges/<int:challenge_id>/end"): {"marketer"},
    ("GET", "/v1/badges"): {"marketer"},
    ("POST", "/v1/badges"): {"marketer"},
    ("GET", "/v1/badges/<int:badge_id>"): {"marketer"},
    ("PATCH", "/v1/badges/<int:badge_id>"): {"marketer"},
    ("DELETE", "/v1/badges/<int:badge_id>"): {"marketer"},
    ("GET", "/v1/perks"): {"marketer"},
    ("POST", "/v1/perks"): {"marketer"},
    ("GET", "/v1/perks/<int:perk_id>"): {"marketer"},
    ("PATCH", "/v1/perks/<int:perk_id>"): {"marketer"},
    ("GET", "/v1/perks/<int:perk_id>/versions"): {"marketer"},
    ("GET", "/v1/perks/<int:perk_id>/versions/<int:version>"): {"marketer"},
    ("POST", "/v1/perks/<int:perk_id>/activate"): {"marketer"},
    ("POST", "/v1/perks/<int:perk_id>/pause"): {"marketer"},
    ("POST", "/v1/perks/<int:perk_id>/end"): {"marketer"},
    ("GET", "/v1/me/perks"): {"cardholder"},
    ("GET", "/v1/me/redemptions"): {"cardholder"},
    ("POST", "/v1/me/redemptions"): {"cardholder"},
    ("GET", "/v1/me/vouchers"): {"cardholder"},
    ("GET", "/v1/partner/perks"): {"partner"},
    ("POST", "/v1/partner/perks"): {"partner"},
    ("GET", "/v1/partner/perks/<int:perk_id>"): {"partner"},
    ("POST", "/v1/partner/perks/<int:perk_id>/codes"): {"partner"},
    ("POST", "/v1/partner/vouchers/<path:code>/redeem"): {"partner"},
    ("POST", "/v1/me/vouchers/<int:voucher_id>/cancel"): {"cardholder"},
    ("POST", "/v1/partner/events"): {"partner"},
    ("POST", "/v1/partner/inbound-secret"): {"partner"},
    ("POST", "/v1/partner/link-codes"): {"partner"},
    ("GET", "/v1/me/partner-links"): {"cardholder"},
    ("POST", "/v1/me/partner-links"): {"cardholder"},
    ("DELETE", "/v1/me/partner-links/<int:link_id>"): {"cardholder"},
    ("GET", "/v1/webhook-endpoints"): {"marketer"},
    ("POST", "/v1/webhook-endpoints"): {"marketer"},
    ("GET", "/v1/webhook-endpoints/<int:endpoint_id>"): {"marketer"},
    ("PATCH", "/v1/webhook-endpoints/<int:endpoint_id>"): {"marketer"},
    ("DELETE", "/v1/webhook-endpoints/<int:endpoint_id>"): {"marketer"},
    ("POST", "/v1/webhook-endpoints/<int:endpoint_id>/rotate-secret"): {"marketer"},
    ("POST", "/v1/webhook-endpoints/<int:endpoint_id>/replay"): {"marketer"},
    ("GET", "/v1/webhook-deliveries"): {"marketer"},
    ("GET", "/v1/webhook-deliveries/<int:delivery_id>"): {"marketer"},
    ("POST", "/v1/webhook-deliveries/<int:delivery_id>/replay"): {"marketer"},
    ("GET", "/v1/partner/webhook-endpoints"): {"partner"},
    ("POST", "/v1/partner/webhook-endpoints"): {"partner"},
    ("GET", "/v1/partner/webhook-endpoints/<int:endpoint_id>"): {"partner"},
    ("PATCH", "/v1/partner/webhook-endpoints/<int:endpoint_id>"): {"partner"},
    ("DELETE", "/v1/partner/webhook-endpoints/<int:endpoint_id>"): {"partner"},
    ("POST", "/v1/partner/webhook-endpoints/<int:endpoint_id>/rotate-secret"): {"partner"},
    ("POST", "/v1/partner/webhook-endpoints/<int:endpoint_id>/replay"): {"partner"},
    ("GET", "/v1/partner/deliveries"): {"partner"},
    ("GET", "/v1/partner/deliveries/<int:delivery_id>"): {"partner"},
    ("POST", "/v1/partner/deliveries/<int:delivery_id>/replay"): {"partner"},
    ("GET", "/v1/me/challenges"): {"cardholder"},
    ("POST", "/v1/me/challenges/<int:challenge_id>/join"): {"cardholder"},
    ("GET", "/v1/me/badges"): {"cardholder"},
    ("GET", "/v1/partners"): {"marketer", "admin"},
    ("POST", "/v1/partners"): {"marketer", "admin"},
    ("GET", "/v1/partners/<int:partner_id>"): {"marketer", "admin"},
    ("PATCH", "/v1/partners/<int:partner_id>"): {"marketer", "admin"},
    ("DELETE", "/v1/partners/<int:partner_id>"): {"marketer", "admin"},
    ("GET", "/v1/levels"): {"marketer"},
    ("PUT", "/v1/levels"): {"marketer"},
    ("GET", "/v1/me/activity"): {"cardholder"},
    ("GET", "/v1/tiers"): {"marketer"},
    ("PUT", "/v1/tiers"): {"marketer"},
    ("GET", "/v1/partner/stats"): {"partner"},
    ("GET", "/v1/partners/<int:partner_id>/settlement"): {"marketer", "admin"},
}

ROLE_CALLERS = ("cardholder", "marketer", "admin", "processor", "partner")
REFUSED_CALLERS = ("anonymous", "expired", "forged", "alg_none", "unknown_role", "revoked_key")
PATH_VALUES = {
    "slug": "youth",
    "key_id": "999",
    "external_ref": "cust-1",
    "batch_id": "999",
    "campaign_id": "999",
    "version": "1",
    "segment_id": "999",
    "partner_id": "999",
    "challenge_id": "999",
    "perk_id": "999",
    "voucher_id": "999",
    "code": "NOPE-0000",
    "badge_id": "999",
    "job_id": "sim-unknown",
    "board_id": "xp-week",
    "endpoint_id": "999",
    "delivery_id": "999",
    "link_id": "999",
}
PUBLIC_RULES = {"/v1/openapi.json"}


def _url(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PATH_VALUES[m.group(1)], rule)


def _expected(roles: set[str], caller: str) -> str:
    if caller in REFUSED_CALLERS:
        return "401"
    return "allowed" if caller in roles else "403"


@pytest.fixture
def callers(db, program) -> dict[str, dict[str, str]]:
    """Headers per kind of caller, all for program `youth` (whose customer `cust-1` exists)."""
    CustomerFactory(program=program, external_ref="cust-1")
    processor = mint_api_key(program=program, role="processor", name="p", created_by="t")
    db.session.add(Partner(program_id=program.id, code="q", name="Q", created_by="t"))
    db.session.flush()
    partner = mint_api_key(
        program=program, role="partner", name="q", created_by="t", partner_code="q"
    )
    revoked = mint_api_key(program=program, role="processor", name="r", created_by="t")
    revoke_api_key(key_id=revoked.record.id, actor="test")
    db.session.commit()
    person = {"program": "youth"}
    unsigned = (
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
        "eyJzdWIiOiJvcHMtMSIsInJvbGVzIjpbImFkbWluIl0sImV4cCI6NDEwMjQ0NDgwMH0."
    )  # {"alg": "none"} {"sub": "ops-1", "roles": ["admin"], "exp": 4102444800}
    return {
        "cardholder": bearer(make_token(sub="cust-1", roles=["cardholder"], **person)),
        "marketer": bearer(make_token(sub="mkt-1", roles=["marketer"], **person)),
        "admin": bearer(make_token(sub="ops-1", program=None, roles=["admin"])),
        "processor": bearer(processor.secret),
        "partner": bearer(partner.secret),
        "anonymous": {},
        "expired": bearer(make_token(sub="ops-1", program=None, roles=["admin"], expires_in=-5)),
        "forged": bearer(make_token(sub="ops-1", program=None, roles=["admin"], secret="x" * 40)),
        "alg_none": bearer(unsigned),
        "unknown_role": bearer(make_token(sub="u", roles=["root"], **person)),
        "revoked_key": bearer(revoked.secret),
    }


def _outcome(response) -> str:
    """What a caller observed: 401/403 (as problem+json, 401 with a challenge) or allowed."""
    status = response.status_code
    if status == 401 and response.json["type"].endswith("/bad-signature"):
        return "allowed"  # past the key and the role; refused by the event's own signature
    if status == 401 and "WWW-Authenticate" not in response.headers:
        return "401 without WWW-Authenticate"
    if status in (401, 403):
        kind = response.content_type
        return str(status) if kind == "application/problem+json" else f"{status} as {kind}"
    return "allowed" if status < 500 else f"{status}"


@pytest.mark.parametrize(
    ("method", "rule"), list(ALLOWED_ROLES), ids=[f"{m} {r}" for m, r in ALLOWED_ROLES]
)
def test_access_matrix(client, callers, method, rule):
    """One row per (endpoint, caller kind); a failure lists every cell that differs."""
    roles = ALLOWED_ROLES[(method, rule)]
    mismatches = []
    for caller in (*ROLE_CALLERS, *REFUSED_CALLERS):
        response = client.open(_url(rule), method=method, json={}, headers=callers[caller])
        observed, expected = _outcome(response), _expected(roles, caller)
        if observed != expected:
            mismatches.append(f"{caller}: expected {expected}, got {observed}")
    assert not mismatches, "\n".join(mismatches)


def _without_converters(rule: str) -> str:
    """`/v1/batches/<int:batch_id>` → `/v1/batches/<batch_id>`: the converter is not access."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule)


def test_matrix_covers_every_endpoint(app: Flask):
    served = {
        (method, _without_converters(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1/") and rule.rule not in PUBLIC_RULES
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    listed = {(method, _without_converters(rule)) for method, rule in ALLOWED_ROLES}
    assert served - listed == set(), "add the new endpoints to ALLOWED_ROLES"
    assert listed - served == set(), "remove endpoints that no longer exist"


# --- nothing crosses programs -------------------------------------------------------------


@pytest.fixture
def two_programs(db, program) -> dict[str, Any]:
    """Program A (`youth`) with customer cust-1, a batch and a partner; program B (`other`)
    with callers."""
    CustomerFactory(program=program, external_ref="cust-1")
    batch = Batch(program_id=program.id, source="api", status="queued")
    partner = Partner(program_id=program.id, code="a-cafe", name="A Cafe", created_by="t")
    db.session.add_all([batch, partner])
    other = ProgramFactory(slug="other")
    key_a = mint_api_key(program=program, role="processor", name="a", created_by="t")
    key_b = mint_api_key(program=other, role="processor", name="b", created_by="t")
    db.session.commit()
    return {
        "batch_id": batch.id,
        "partner_id": partner.id,
        "processor_a": bearer(key_a.secret),
        "processor_b": bearer(key_b.secret),
        "marketer_b": bearer(make_token(sub="m", program="other", roles=["marketer"])),
        "cardholder_b": bearer(make_token(sub="cust-1", program="other", roles=["cardholder"])),
    }


CROSS_PROGRAM_CALLS = [
    ("processor_b", "POST", "/v1/customers/cust-1/cards", {"token": "tok_x"}),
    ("processor_b", "GET", "/v1/batches/{batch_id}", None),
    ("processor_b", "GET", "/v1/batches/{batch_id}/rejections", None),
    ("marketer_b", "GET", "/v1/customers/cust-1", None),
    ("marketer_b", "GET", "/v1/programs/youth", None),
    ("marketer_b", "POST", "/v1/customers/cust-1/adjustments", {"points": 10, "reason": "x"}),
    ("cardholder_b", "GET", "/v1/me", None),
    ("cardholder_b", "GET", "/v1/me/balance", None),
    ("cardholder_b", "GET", "/v1/me/ledger", None),
    ("cardholder_b", "GET", "/v1/me/offers", None),
    ("cardholder_b", "GET", "/v1/leaderboards", None),
    ("cardholder_b", "GET", "/v1/leaderboards/xp-week", None),
    ("cardholder_b", "GET", "/v1/me/challenges", None),
    ("cardholder_b", "GET", "/v1/me/badges", None),
    ("cardholder_b", "GET", "/v1/me/perks", None),
    ("cardholder_b", "GET", "/v1/me/redemptions", None),
    ("cardholder_b", "GET", "/v1/me/vouchers", None),
    ("marketer_b", "GET", "/v1/partners/{partner_id}/settlement?period=2026-11", None),
]


@pytest.mark.parametrize(
    ("caller", "method", "path", "body"),
    CROSS_PROGRAM_CALLS,
    ids=[f"{c[0]} {c[1]} {c[2]}" for c in CROSS_PROGRAM_CALLS],
)
def test_program_b_cannot_reach_program_a(client, two_programs, caller, method, path, body):
    url = path.format(batch_id=two_programs["batch_id"], partner_id=two_programs["partner_id"])
    response = client.open(url, method=method, json=body, headers=two_programs[caller])

    assert response.status_code == 404, response.json
    assert response.content_type == "application/problem+json"
    assert "cust-1" not in str(response.json.get("errors", ""))


def test_program_a_sees_its_own_batch(client, two_programs):
    url = f"/v1/batches/{two_programs['batch_id']}"
    assert client.get(url, headers=two_programs["processor_a"]).status_code == 200


def test_openapi_documents_security_of_every_endpoint(client):
    """Each endpoint of the matrix declares its auth scheme and its 401/403 problems."""
    paths = client.get("/v1/openapi.json").json["paths"]
    for method, rule in ALLOWED_ROLES:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
        operation = paths[path][method.lower()]
        assert operation.get("security"), (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)
