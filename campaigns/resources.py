"""One mechanism for what marketers configure: validated, audited, optionally versioned and
lifecycle-managed resources of a program (campaigns, segments; challenges, badges and perks next).

A kind is declared as data; the operations are the same for every kind:

- `create`: a new row (a draft at version 1 when the kind has a lifecycle and versions).
- `get` (NotFound for another program's object); `list_items` (newest first, keyset cursor,
  filters).
- `update`: a JSON Merge Patch of the definition, validated whole. A draft (or an unversioned
  object) is edited in place; a live one gets version N+1 and the old one stays readable; an
  ended one is 409 naming `status`. An unchanged definition writes nothing.
- `list_versions` / `get_version`: the stored definitions, newest first.
- `transition` (`activate`, `pause`, `end`): draft → scheduled/active → paused → ended,
  where scheduled and active follow the window (`effective_status`); an illegal move is 409
  naming `status`.
- `delete`, when the kind allows it.

Every change first takes the program's rules lock exclusively (`rewards.programs.lock_rules`),
then the object's row, then writes the audit row and (for kinds the feed reads) bumps the
program's `rules_revision`, all in the caller's transaction. Feed chunks hold the rules lock
shared, so the order is rules lock → object rows everywhere (see `campaigns.earning.service`).

Declaring a new kind is a page: its validator plus, e.g. for challenges,

    def _check(program_id: int, values: dict[str, Any], current: Item | None) -> None:
        ...  # rules a validator cannot see alone (a badge of this program, ...)

    CHALLENGES = Kind(
        name="challenge",  # audit object type, `challenge.create` ..., "Challenge 7 not found."
        model=Challenge,  # id, program_id, created_by, current_version, status, starts_at, ends_at
        validate=lambda raw, program: validate_challenge(raw, timezone=program.timezone),
        mirror=mirror_window,  # copy name and window onto the row (list filters)
        versions=Versions(ChallengeVersion, parent="challenge_id"),
        lifecycle=True,
        filters=LIFECYCLE_FILTERS,
        check=_check,
    )

and on the API side one `MarketerResource` (see `api.resources.marketer`) registers the views.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select

from campaigns.earning.definition import merge_patch
from campaigns.lifecycle import (
    EDITABLE,
    LIFECYCLE_FILTERS,
    LIVE,
    STATUSES,
    TRANSITIONS,
    Filter,
    Scope,
    effective_status,
    load_program,
    mirror_window,
    move,
)
from rewards.audit import record
from rewards.db import db
from rewards.errors import Conflict, NotFound
from rewards.models import Program
from rewards.programs import lock_rules, record_rule_change

__all__ = [
    "EDITABLE",
    "LIFECYCLE_FILTERS",
    "LIVE",
    "STATUSES",
    "TRANSITIONS",
    "Filter",
    "Item",
    "Kind",
    "Scope",
    "Versions",
    "effective_status",
    "load_program",
    "mirror_window",
]


@dataclass(frozen=True)
class Item:
    """One object of a kind: its row and, for a versioned kind, its current version."""

    row: Any
    version: Any = None  # None for an unversioned kind


@dataclass(frozen=True)
class Versions:
    """A versioned kind's version model: `<parent>`, `version`, `definition`, `created_by`."""

    model: type[Any]
    parent: str  # the column naming the object, e.g. "campaign_id"


@dataclass(frozen=True)
class Kind:
    """A kind of marketer resource, declared as data (see the module docstring)."""

    name: str  # audit object type and action prefix; "Campaign 7 not found."
    model: type[Any]  # the row: id, program_id, created_by (+ lifecycle and version columns)
    validate: Callable[[Any, Program], dict[str, Any]]  # raw → normalised, or InvalidInput
    mirror: Callable[[Any, dict[str, Any]], None]  # copy (part of) the definition onto the row
    # Unversioned kinds keep their definition on the row: how to read it back.
    read: Callable[[Any], dict[str, Any]] | None = None
    versions: Versions | None = None
    lifecycle: bool = False  # status and starts_at/ends_at columns
    deletable: bool = False
    filters: Mapping[str, Filter] = field(default_factory=dict)
    # Rules a validator cannot see alone; `current` is None on create. Raises a DomainError.
    check: Callable[[int, dict[str, Any], Item | None], None] | None = None
    before_delete: Callable[[Item], None] | None = None  # e.g. 409 while something uses it
    rules: bool = True  # the feed reads it: a change bumps the program's rules_revision

    def __post_init__(self) -> None:
        if (self.versions is None) == (self.read is None):
            raise TypeError(f"{self.name}: give `versions` or `read`, not both or neither.")
        if self.versions is not None and self.deletable:
            raise TypeError(f"{self.name}: versioned kinds keep their history; no delete.")

    @property
    def title(self) -> str:
        return self.name[:1].upper() + self.name[1:]

    # --- reading ----------------------------------------------------------------------------

    def definition(self, item: Item) -> dict[str, Any]:
        """The current definition of `item`."""
        if self.read is not None:
            return self.read(item.row)
        definition: dict[str, Any] = item.version.definition
        return definition

    def snapshot(self, item: Item) -> dict[str, Any]:
        """What the audit log keeps of `item`."""
        if self.versions is None:
            return self.definition(item)
        status = {"status": item.row.status} if self.lifecycle else {}
        return {**status, "version": item.version.version, "definition": self.definition(item)}

    def get(self, *, program_id: int, object_id: int, for_update: bool = False) -> Item:
        """The object with its current version; NotFound outside the caller's program."""
        stmt = select(self.model).where(
            self.model.id == object_id, self.model.program_id == program_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        row = db.session.scalar(stmt)
        if row is None:
            raise NotFound(f"{self.title} {object_id} not found.")
        if self.versions is None:
            return Item(row)
        return Item(row, self._version(row.id, row.current_version))

    def list_items(
        self,
        *,
        program_id: int,
        limit: int,
        before_id: int | None = None,
        now: datetime | None = None,
        **filters: Any,
    ) -> list[Item]:
        """Newest first, after the cursor `before_id`; filters given as None are skipped."""
        model = self.model
        scope = Scope(program_id, now or datetime.now(UTC))
        if self.versions is None:
            stmt = select(model)
        else:
            versions = self.versions.model
            current = and_(
                getattr(versions, self.versions.parent) == model.id,
                versions.version == model.current_version,
            )
            stmt = select(model, versions).join(versions, current)
        stmt = stmt.where(model.program_id == program_id).order_by(model.id.desc()).limit(limit)
        if before_id is not None:
            stmt = stmt.where(model.id < before_id)
        for name, value in filters.items():
            if value is not None:
                stmt = stmt.where(self.filters[name](model, scope, value))
        return [Item(*found) for found in db.session.execute(stmt).all()]

    def list_versions(
        self, *, program_id: int, object_id: int, limit: int, before_version: int | None = None
    ) -> list[Any]:
        """The object's versions, newest first."""
        self.get(program_id=program_id, object_id=object_id)
        versions = self._versions()
        stmt = (
            select(versions.model)
            .where(getattr(versions.model, versions.parent) == object_id)
            .order_by(versions.model.version.desc())
            .limit(limit)
        )
        if before_version is not None:
            stmt = stmt.where(versions.model.version < before_version)
        return list(db.session.scalars(stmt))

    def get_version(self, *, program_id: int, object_id: int, version: int) -> Any:
        """One version of an object of the caller's program, or NotFound."""
        self.get(program_id=program_id, object_id=object_id)
        return self._version(object_id, version)

    # --- changing ---------------------------------------------------------------------------

    def create(
        self, *, program_id: int, body: Any, actor: str, actor_role: str = "marketer"
    ) -> Item:
        """A new object (a draft at version 1 where that applies); InvalidInput names every
        bad field and nothing is stored."""
        lock_rules(program_id)
        values = self.validate(body, load_program(program_id))
        if self.check is not None:
            self.check(program_id, values, None)
        row = self.model(program_id=program_id, created_by=actor)
        if self.lifecycle:
            row.status = "draft"
        if self.versions is not None:
            row.current_version = 1
        self.mirror(row, values)
        db.session.add(row)
        db.session.flush()
        item = Item(row, self._new_version(row, 1, values, actor))
        self._changed(item, "create", None, actor, actor_role)
        return item

    def update(
        self,
        *,
        program_id: int,
        object_id: int,
        changes: dict[str, Any],
        actor: str,
        actor_role: str = "marketer",
    ) -> Item:
        """Apply a JSON Merge Patch to the definition (null removes a key). A draft or an
        unversioned object is edited in place; a live one gets a new version; ended: 409."""
        lock_rules(program_id)
        item = self.get(program_id=program_id, object_id=object_id, for_update=True)
        row = item.row
        if self.lifecycle and row.status not in EDITABLE:
            raise Conflict(f"A {row.status} {self.name} cannot be edited.", field="status")
        current = self.definition(item)
        values = self.validate(merge_patch(current, changes), load_program(program_id))
        if self.check is not None:
            self.check(program_id, values, item)
        if values == current:
            return item
        before = self.snapshot(item)
        updated = item
        if self.versions is None:
            pass  # the row is the definition: `mirror` below writes it
        elif self.lifecycle and row.status == "draft":
            item.version.definition = values
        else:
            row.current_version = item.version.version + 1
            updated = Item(row, self._new_version(row, row.current_version, values, actor))
        self.mirror(row, values)
        self._changed(updated, "update", before, actor, actor_role)
        return updated

    def delete(
        self, *, program_id: int, object_id: int, actor: str, actor_role: str = "marketer"
    ) -> None:
        """Delete the object (kinds that allow it), after the kind's `before_delete` check.
        Under the rules lock, so nothing can start using it meanwhile."""
        if not self.deletable:
            raise TypeError(f"{self.name} objects cannot be deleted.")
        lock_rules(program_id)
        item = self.get(program_id=program_id, object_id=object_id, for_update=True)
        if self.before_delete is not None:
            self.before_delete(item)
        before = self.snapshot(item)
        db.session.delete(item.row)
        db.session.flush()
        self._record(item, "delete", before, None, actor, actor_role)

    # --- lifecycle --------------------------------------------------------------------------

    def transition(
        self,
        verb: str,
        *,
        program_id: int,
        object_id: int,
        actor: str,
        actor_role: str = "marketer",
        reason: str | None = None,
        now: datetime | None = None,
    ) -> Item:
        """`activate` (draft or paused → scheduled or active), `pause` (live → paused) or `end`
        (for good); an illegal move is 409 naming `status`. The reason goes to the audit log."""
        if not self.lifecycle:
            raise TypeError(f"{self.name} objects have no lifecycle.")
        now = now or datetime.now(UTC)
        lock_rules(program_id)
        item = self.get(program_id=program_id, object_id=object_id, for_update=True)
        old, new = move(verb, item.row, now, self.name)
        item.row.status = new
        db.session.flush()
        after = {"status": new, **({"reason": reason} if reason else {})}
        self._record(item, verb, {"status": old}, after, actor, actor_role)
        return item

    # --- internals --------------------------------------------------------------------------

    def _versions(self) -> Versions:
        if self.versions is None:
            raise TypeError(f"{self.name} objects have no versions.")
        return self.versions

    def _version(self, object_id: int, number: int) -> Any:
        versions = self._versions()
        found = db.session.scalar(
            select(versions.model).where(
                getattr(versions.model, versions.parent) == object_id,
                versions.model.version == number,
            )
        )
        if found is None:
            raise NotFound(f"{self.title} {object_id} has no version {number}.")
        return found

    def _new_version(self, row: Any, number: int, values: dict[str, Any], actor: str) -> Any:
        if self.versions is None:
            return None
        version = self.versions.model(
            **{self.versions.parent: row.id},
            version=number,
            definition=values,
            created_by=actor,
        )
        db.session.add(version)
        return version

    def _changed(
        self, item: Item, verb: str, before: dict[str, Any] | None, actor: str, actor_role: str
    ) -> None:
        db.session.flush()
        self._record(item, verb, before, self.snapshot(item), actor, actor_role)

    def _record(
        self,
        item: Item,
        verb: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        actor: str,
        actor_role: str,
    ) -> None:
        """The audit row (and, for kinds the feed reads, the rules revision bump), in the
        caller's transaction."""
        if after is not None and item.version is not None:
            after = {**after, "version": item.version.version}
        change = {
            "object_type": self.name,
            "object_id": item.row.id,
            "action": f"{self.name}.{verb}",
            "before": before,
            "after": after,
            "actor": actor,
            "actor_role": actor_role,
        }
        if self.rules:
            record_rule_change(item.row.program_id, **change)
        else:
            record(program_id=item.row.program_id, **change)
