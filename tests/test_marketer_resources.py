"""The shared marketer-resource mechanism, through HTTP on PostgreSQL: campaigns and segments
behave identically for what they share (404 across programs, audit and rules revision in the
change's own transaction, exact validation paths with nothing stored, cursor pages, merge
patch, Idempotency-Key, the rules lock)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from campaigns.audiences.segments import SEGMENTS, Segment
from campaigns.earning.models import Campaign
from campaigns.earning.service import CAMPAIGNS
from campaigns.resources import Kind, Versions
from rewards.db import db as _db
from rewards.models import AuditLog, Program
from rewards.programs import share_rules
from tests.conftest import bearer, make_token
from tests.factories import ProgramFactory
from tests.process_helpers import poll

START = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)

# Per kind: a valid body, a patch changing it, a bad body with the exact error paths (by hand,
# from each validator's documented rules), and what the audit log names it.
KINDS = {
    "campaigns": {
        "model": Campaign,
        "object_type": "campaign",
        "title": "Campaign",
        "body": {
            "name": "Dining 2x",
            "starts_at": START.isoformat(),
            "effect": {"type": "multiplier", "value": "2"},
        },
        "patch": {"name": "Dining double"},
        "bad": {
            "name": "",
            "starts_at": "yesterday",
            "effect": {"type": "multiplier", "value": "2"},
            "priority": 5000,
            "colour": "red",
        },
        "bad_paths": {"name", "starts_at", "priority", "colour"},
    },
    "segments": {
        "model": Segment,
        "object_type": "segment",
        "title": "Segment",
        "body": {"name": "Young foodies", "rules": {"max_age": 25}},
        "patch": {"name": "Foodies"},
        "bad": {"name": "x", "rules": {"min_age": 200, "tags": ["ok", 7], "spent": {"days": 0}}},
        "bad_paths": {
            "rules.min_age",
            "rules.tags.1",
            "rules.spent",
            "rules.spent.category",
            "rules.spent.days",
        },
    },
}
KIND_NAMES = list(KINDS)


def _revision(db, slug: str = "youth") -> int:
    db.session.expire_all()
    return db.session.scalar(select(Program.rules_revision).where(Program.slug == slug))


def _audit(db) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).order_by(AuditLog.id)))


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _xmin(db, table: str, where: str, **params) -> str:
    """The id of the transaction that last wrote the row (PostgreSQL's `xmin`)."""
    return db.session.execute(
        text(f"SELECT xmin::text FROM {table} WHERE {where}"), params
    ).scalar()


@pytest.fixture(params=KIND_NAMES)
def kind(request):
    return request.param, KINDS[request.param]


@pytest.fixture
def other_headers(db):
    ProgramFactory(slug="other")
    db.session.commit()
    return bearer(make_token(sub="mkt-9", program="other", roles=["marketer"]))


def test_create_writes_the_audit_row_and_bumps_the_revision_in_its_own_transaction(
    client, db, marketer_headers, kind
):
    plural, spec = kind
    created = client.post(f"/v1/{plural}", json=spec["body"], headers=marketer_headers)

    assert created.status_code == 201, created.json
    object_id = created.json["id"]
    (row,) = _audit(db)
    assert (row.action, row.object_type, row.object_id) == (
        f"{spec['object_type']}.create",
        spec["object_type"],
        str(object_id),
    )
    assert (row.actor, row.actor_role, row.before) == ("user:mkt-1", "marketer", None)
    assert _revision(db) == 1
    # One transaction wrote the object, its audit row and the program's revision.
    table = spec["model"].__tablename__
    written_by = _xmin(db, table, "id = :id", id=object_id)
    assert written_by == _xmin(db, "audit_log", "id = :id", id=row.id)
    assert written_by == _xmin(db, "programs", "slug = 'youth'")


def test_a_patch_is_audited_with_before_and_after_and_bumps_the_revision(
    client, db, marketer_headers, kind
):
    plural, spec = kind
    object_id = client.post(f"/v1/{plural}", json=spec["body"], headers=marketer_headers).json["id"]

    changed = client.patch(
        f"/v1/{plural}/{object_id}", json=spec["patch"], headers=marketer_headers
    )
    again = client.patch(f"/v1/{plural}/{object_id}", json=spec["patch"], headers=marketer_headers)

    assert changed.status_code == 200 and changed.json["name"] == spec["patch"]["name"]
    assert again.status_code == 200 and again.json == changed.json
    # The unchanged second patch wrote nothing.
    assert [r.action for r in _audit(db)] == [
        f"{spec['object_type']}.create",
        f"{spec['object_type']}.update",
    ]
    assert _revision(db) == 2
    update = _audit(db)[1]
    before, after = update.before, update.after
    if spec["object_type"] == "campaign":  # versioned: the definition under a version
        before, after = before["definition"], after["definition"]
        assert update.after["version"] == 1  # a draft is edited in place
    assert before["name"] == spec["body"]["name"] and after["name"] == spec["patch"]["name"]
    assert _xmin(db, spec["model"].__tablename__, "id = :id", id=object_id) == _xmin(
        db, "audit_log", "id = :id", id=update.id
    )


def test_validation_names_every_bad_path_and_stores_nothing(client, db, marketer_headers, kind):
    plural, spec = kind
    response = client.post(f"/v1/{plural}", json=spec["bad"], headers=marketer_headers)

    assert response.status_code == 422 and response.content_type == "application/problem+json"
    assert set(response.json["errors"]) == spec["bad_paths"]
    assert _count(db, spec["model"]) == 0 and _audit(db) == [] and _revision(db) == 0


def test_an_invalid_patch_names_its_paths_and_changes_nothing(client, db, marketer_headers, kind):
    plural, spec = kind
    created = client.post(f"/v1/{plural}", json=spec["body"], headers=marketer_headers).json
    # The merged body is validated whole, so the patch's errors carry the same paths.
    patch = {k: v for k, v in spec["bad"].items() if k != "effect"}

    response = client.patch(f"/v1/{plural}/{created['id']}", json=patch, headers=marketer_headers)

    assert response.status_code == 422
    assert set(response.json["errors"]) == spec["bad_paths"]
    read = client.get(f"/v1/{plural}/{created['id']}", headers=marketer_headers)
    assert read.json == created
    assert len(_audit(db)) == 1 and _revision(db) == 1


def test_another_programs_object_is_404_everywhere_and_untouched(
    client, db, marketer_headers, other_headers, kind
):
    plural, spec = kind
    created = client.post(f"/v1/{plural}", json=spec["body"], headers=marketer_headers).json
    url = f"/v1/{plural}/{created['id']}"
    calls = [("get", url, None), ("patch", url, spec["patch"])]
    if plural == "campaigns":
        calls += [("get", f"{url}/versions", None), ("get", f"{url}/versions/1", None)]
        calls += [("post", f"{url}/{verb}", {}) for verb in ("activate", "pause", "end")]
    else:
        calls += [("delete", url, None)]

    for method, path, body in calls:
        response = getattr(client, method)(path, json=body, headers=other_headers)
        assert response.status_code == 404, (method, path, response.json)
        assert response.json["detail"] == f"{spec['title']} {created['id']} not found."

    assert client.get(f"/v1/{plural}", headers=other_headers).json["data"] == []
    assert client.get(url, headers=marketer_headers).json == created
    assert len(_audit(db)) == 1 and _revision(db) == 1 and _revision(db, "other") == 0


def test_lists_page_newest_first_with_an_opaque_cursor(client, marketer_headers, kind):
    plural, spec = kind
    ids = [
        client.post(
            f"/v1/{plural}", json={**spec["body"], "name": f"n{i}"}, headers=marketer_headers
        ).json["id"]
        for i in range(5)
    ]
    newest_first = sorted(ids, reverse=True)

    pages, cursor = [], None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        body = client.get(f"/v1/{plural}{query}", headers=marketer_headers).json
        pages.append([item["id"] for item in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    assert [
        i["name"] for i in client.get(f"/v1/{plural}", headers=marketer_headers).json["data"]
    ] == [
        "n4",
        "n3",
        "n2",
        "n1",
        "n0",
    ]
    bad = client.get(f"/v1/{plural}?cursor=not*a*cursor", headers=marketer_headers)
    assert bad.status_code == 422 and "cursor" in bad.json["errors"]


def test_idempotency_key_replays_the_first_create(client, db, marketer_headers, kind):
    plural, spec = kind
    headers = {**marketer_headers, "Idempotency-Key": "create-1"}

    first = client.post(f"/v1/{plural}", json=spec["body"], headers=headers)
    replay = client.post(f"/v1/{plural}", json=spec["body"], headers=headers)
    other = client.post(f"/v1/{plural}", json={**spec["body"], "name": "z"}, headers=headers)

    assert first.status_code == replay.status_code == 201
    assert replay.json == first.json and replay.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 409
    assert _count(db, spec["model"]) == 1 and len(_audit(db)) == 1 and _revision(db) == 1


@pytest.mark.parametrize("resource", [CAMPAIGNS, SEGMENTS], ids=["campaign", "segment"])
def test_create_waits_for_feed_chunks_holding_the_rules_lock(app, db, program, resource):
    """A create takes the rules lock first, like every change: it waits for a chunk still
    using the old rules (and then bumps the revision the next chunk compiles)."""
    chunk_running, chunk_may_end, created = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []
    body = KINDS["campaigns" if resource is CAMPAIGNS else "segments"]["body"]

    def in_thread(work):
        def run():
            with app.app_context():
                try:
                    work()
                except BaseException as exc:  # reported below
                    errors.append(exc)
                finally:
                    _db.session.remove()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def chunk():
        share_rules([program.id])
        chunk_running.set()
        chunk_may_end.wait(10)
        _db.session.rollback()

    def create():
        resource.create(program_id=program.id, body=body, actor="t")
        _db.session.commit()
        created.set()

    first = in_thread(chunk)
    assert chunk_running.wait(10)
    second = in_thread(create)
    poll(_waiting_on_an_advisory_lock, 10, "the create never waited for the chunk")
    assert not created.is_set()

    chunk_may_end.set()
    first.join(10)
    second.join(10)
    assert created.is_set() and not errors
    assert _revision(db) == 1


def _waiting_on_an_advisory_lock() -> int:
    with _db.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
        ).scalar()


def test_a_kind_is_declared_consistently():
    def validate(raw, program):
        return raw

    def mirror(row, values):
        return None

    with pytest.raises(TypeError, match="versions"):
        Kind(name="x", model=Segment, validate=validate, mirror=mirror)
    with pytest.raises(TypeError, match="no delete"):
        Kind(
            name="x",
            model=Campaign,
            validate=validate,
            mirror=mirror,
            versions=Versions(Campaign, parent="campaign_id"),
            deletable=True,
        )
