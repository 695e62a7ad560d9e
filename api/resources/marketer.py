"""The standard marketer views of a `campaigns.resources.Kind`, registered on a Blueprint.

`register(blp, resource)` adds, from the kind's declaration and the resource's schemas:

    /{plural}                            Noun+s            GET list, POST create
    /{plural}/<id>                       NounById          GET, PATCH (merge patch), DELETE*
    /{plural}/<id>/versions              NounVersions      GET list         (versioned kinds)
    /{plural}/<id>/versions/<version>    NounVersionByNumber GET            (versioned kinds)
    /{plural}/<id>/activate|pause|end    NounActivation|Pause|End POST      (lifecycle kinds)

(* when the kind allows delete). Every view is for the `marketer` role, works in the caller's
program, commits once, and documents its problems; POST create honours `Idempotency-Key`.
Class names give the operationIds (`listCampaigns`, `getCampaignVersion`, ...), docstrings the
summaries. Bodies are checked by the kind's validator, which names every bad field at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.errors import PROBLEM_JSON, ProblemSchema
from api.fields import CalendarDate, PageQueryArgsSchema, UtcDateTime
from api.idempotency import commit, idempotent
from api.resources.adjustments import IDEMPOTENCY_KEY_PARAMETER
from api.resources.programs import page
from campaigns.lifecycle import STATUSES, effective_status
from campaigns.resources import TRANSITIONS, Item, Kind

# View class suffix of each lifecycle transition (operationIds come from api.openapi's table).
TRANSITION_VIEWS = {"activate": "Activation", "pause": "Pause", "end": "End"}


class CheckedByService(ma.Schema):
    """A body documented by its fields but checked by the kind's validator, which reports
    every problem at once under its full path: here only "is it an object"."""

    def load(self, data: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if not isinstance(data, dict):
            raise ma.ValidationError("Must be a JSON object.", "_schema")
        return data


class LifecycleQueryArgsSchema(PageQueryArgsSchema):
    """List filters of a lifecycle kind (campaigns, challenges): `campaigns.lifecycle`."""

    status = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(STATUSES),
        metadata={"description": "Effective status now"},
    )
    active_on = CalendarDate(
        load_default=None,
        metadata={"description": "Window overlaps this day (program timezone), YYYY-MM-DD"},
    )


class TransitionSchema(ma.Schema):
    """The optional body of a lifecycle transition."""

    reason = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(1, 500),
        metadata={"description": "Why (kept in the audit log)"},
    )


def versioned_item(item: Item, now: datetime | None = None, **counters: Any) -> dict[str, Any]:
    """A versioned lifecycle object as the API shows it: its current definition, the status
    effective now, its version and row facts, and the kind's own `counters`."""
    row = item.row
    return {
        **item.version.definition,
        "id": row.id,
        "status": effective_status(row, now or datetime.now(UTC)),
        "version": item.version.version,
        **counters,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


@dataclass(frozen=True)
class VersionedSchemas:
    """The schemas every versioned, lifecycle-managed kind has besides its own, named for
    the spec after the noun (`ChallengePage`, `ChallengeVersion`, `ChallengeVersionPage`,
    `ChallengeQueryArgs`, `ChallengeTransition`), and how a version is shown."""

    page: type[ma.Schema]
    version: type[ma.Schema]
    version_page: type[ma.Schema]
    query: type[ma.Schema]
    transition: type[ma.Schema]
    present_version: Callable[[Any], dict[str, Any]]


def page_schema(item: type[ma.Schema]) -> type[ma.Schema]:
    """`{data: [item], next_cursor}`, named `<Item>PageSchema`."""
    name = item.__name__.removesuffix("Schema") + "PageSchema"
    fields = {
        "data": ma.fields.List(ma.fields.Nested(item)),
        "next_cursor": ma.fields.String(allow_none=True),
    }
    return type(name, (ma.Schema,), fields)


def versioned_schemas(
    noun: str, item: type[ma.Schema], definition: type[ma.Schema], parent: str
) -> VersionedSchemas:
    """The shared schemas of a versioned lifecycle kind whose rows are shown by `item`, whose
    definitions by `definition`, and whose versions name their object in column `parent`."""
    version = type(
        f"{noun}VersionSchema",
        (definition,),
        {
            parent: ma.fields.Integer(),
            "version": ma.fields.Integer(),
            "created_by": ma.fields.String(),
            "created_at": UtcDateTime(),
        },
    )

    def present_version(row: Any) -> dict[str, Any]:
        return {
            **row.definition,
            parent: getattr(row, parent),
            "version": row.version,
            "created_by": row.created_by,
            "created_at": row.created_at,
        }

    return VersionedSchemas(
        page=page_schema(item),
        version=version,
        version_page=page_schema(version),
        query=type(f"{noun}QueryArgsSchema", (LifecycleQueryArgsSchema,), {}),
        transition=type(f"{noun}TransitionSchema", (TransitionSchema,), {}),
        present_version=present_version,
    )


@dataclass(frozen=True)
class MarketerResource:
    """How one kind appears in the API: path, names, schemas, presentation and summaries.

    `summaries` keys: list, create, get, update, and as the kind has them: delete, versions,
    version, activate, pause, end.
    """

    kind: Kind
    plural: str  # the path segment, "campaigns"
    noun: str  # view class prefix, "Campaign"
    schema: type[ma.Schema]  # one object as shown
    page_schema: type[ma.Schema]
    create_schema: type[ma.Schema]
    update_schema: type[ma.Schema]
    present: Callable[[Item], dict[str, Any]]
    summaries: Mapping[str, str]
    query_schema: type[ma.Schema] = PageQueryArgsSchema  # extra fields are the kind's filters
    present_page: Callable[[list[Item]], list[dict[str, Any]]] | None = None  # bulk `present`
    version_schema: type[ma.Schema] | None = None
    version_page_schema: type[ma.Schema] | None = None
    present_version: Callable[[Any], dict[str, Any]] | None = None
    transition_schema: type[ma.Schema] = TransitionSchema
    created: str = "Created"  # the 201's description

    @property
    def id_arg(self) -> str:
        return f"{self.kind.name}_id"

    @classmethod
    def versioned(
        cls, *, definition: type[ma.Schema], parent: str, **given: Any
    ) -> MarketerResource:
        """A versioned lifecycle kind's resource with its shared schemas (`versioned_schemas`
        of `noun`, `schema`, `definition` and `parent`) filled in."""
        shared = versioned_schemas(given["noun"], given["schema"], definition, parent)
        return cls(
            page_schema=shared.page,
            query_schema=shared.query,
            version_schema=shared.version,
            version_page_schema=shared.version_page,
            present_version=shared.present_version,
            transition_schema=shared.transition,
            **given,
        )


def register(blp: Blueprint, resource: MarketerResource) -> None:
    """Add the standard views of `resource` to `blp` (see the module docstring)."""
    one = f"/{resource.plural}/<id:{resource.id_arg}>"
    _route(blp, f"/{resource.plural}", f"{resource.noun}s", _collection(blp, resource))
    _route(blp, one, f"{resource.noun}ById", _object(blp, resource))
    if resource.kind.versions is not None:
        _route(blp, f"{one}/versions", f"{resource.noun}Versions", _versions(blp, resource))
        by_number = _version(blp, resource)
        _route(blp, f"{one}/versions/<id:version>", f"{resource.noun}VersionByNumber", by_number)
    if resource.kind.lifecycle:
        for verb in TRANSITIONS:
            name = resource.noun + TRANSITION_VIEWS[verb]
            _route(blp, f"{one}/{verb}", name, {"post": _transition(blp, resource, verb)})


def _route(blp: Blueprint, path: str, name: str, methods: dict[str, Any]) -> None:
    view = type(name, (MethodView,), {"__module__": __name__, **methods})
    blp.route(path)(view)


def _summary(resource: MarketerResource, key: str) -> Callable[[Any], Any]:
    """Set the function's docstring (the operation's summary) before decorators copy it."""

    def decorate(function: Any) -> Any:
        function.__doc__ = resource.summaries[key]
        return function

    return decorate


def _actor() -> str:
    return current_principal().actor


def _collection(blp: Blueprint, r: MarketerResource) -> dict[str, Any]:
    kind, present_page = r.kind, r.present_page or (lambda items: [r.present(i) for i in items])

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(422,)))
    @blp.arguments(r.query_schema, location="query")
    @blp.response(200, r.page_schema)
    @_summary(r, "list")
    def get(self: MethodView, args: dict[str, Any]) -> dict[str, Any]:
        filters = {k: v for k, v in args.items() if k not in ("limit", "cursor")}
        items = kind.list_items(
            program_id=program_id(), limit=args["limit"] + 1, before_id=args["cursor"], **filters
        )
        result = page(items, args["limit"], id_of=lambda item: item.row.id)
        result["data"] = present_page(result["data"])
        return result

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(409, 422)))
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.arguments(r.create_schema)
    @blp.alt_response(201, schema=r.schema, success=True, description=r.created)
    @blp.alt_response(
        422, schema=ProblemSchema, content_type=PROBLEM_JSON, description="Names each bad field"
    )
    @idempotent
    @_summary(r, "create")
    def post(self: MethodView, data: dict[str, Any]) -> Any:
        item = kind.create(program_id=program_id(), body=data, actor=_actor())
        return r.schema().dump(r.present(item)), 201

    return {"get": get, "post": post}


def _object(blp: Blueprint, r: MarketerResource) -> dict[str, Any]:
    kind, id_arg = r.kind, r.id_arg
    # An ended object cannot be edited (409); an unversioned kind without lifecycle always can.
    patch_problems = (404, 409, 422) if kind.lifecycle else (404, 422)

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, r.schema)
    @_summary(r, "get")
    def get(self: MethodView, **path: int) -> dict[str, Any]:
        return r.present(kind.get(program_id=program_id(), object_id=path[id_arg]))

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=patch_problems))
    @blp.arguments(r.update_schema)
    @blp.response(200, r.schema)
    @_summary(r, "update")
    def patch(self: MethodView, changes: dict[str, Any], **path: int) -> dict[str, Any]:
        item = kind.update(
            program_id=program_id(), object_id=path[id_arg], changes=changes, actor=_actor()
        )
        commit()
        return r.present(item)

    methods = {"get": get, "patch": patch}
    if not kind.deletable:
        return methods
    delete_problems = (404, 409) if kind.before_delete is not None else (404,)

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=delete_problems))
    @blp.response(204)
    @_summary(r, "delete")
    def delete(self: MethodView, **path: int) -> None:
        kind.delete(program_id=program_id(), object_id=path[id_arg], actor=_actor())
        commit()

    return {**methods, "delete": delete}


def _versions(blp: Blueprint, r: MarketerResource) -> dict[str, Any]:
    kind, id_arg, present = r.kind, r.id_arg, _version_presenter(r)

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 422)))
    @blp.arguments(PageQueryArgsSchema, location="query")
    @blp.response(200, r.version_page_schema)
    @_summary(r, "versions")
    def get(self: MethodView, args: dict[str, Any], **path: int) -> dict[str, Any]:
        versions = kind.list_versions(
            program_id=program_id(),
            object_id=path[id_arg],
            limit=args["limit"] + 1,
            before_version=args["cursor"],
        )
        result = page(versions, args["limit"], id_of=lambda version: version.version)
        result["data"] = [present(version) for version in result["data"]]
        return result

    return {"get": get}


def _version(blp: Blueprint, r: MarketerResource) -> dict[str, Any]:
    kind, id_arg, present = r.kind, r.id_arg, _version_presenter(r)

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, r.version_schema)
    @_summary(r, "version")
    def get(self: MethodView, **path: int) -> dict[str, Any]:
        found = kind.get_version(
            program_id=program_id(), object_id=path[id_arg], version=path["version"]
        )
        return present(found)

    return {"get": get}


def _version_presenter(r: MarketerResource) -> Callable[[Any], dict[str, Any]]:
    if r.present_version is None or r.version_schema is None or r.version_page_schema is None:
        raise TypeError(f"{r.noun}: a versioned kind needs version schemas and present_version.")
    return r.present_version


def _transition(blp: Blueprint, r: MarketerResource, verb: str) -> Any:
    kind, id_arg = r.kind, r.id_arg

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 409, 422)))
    @blp.arguments(r.transition_schema, required=False)
    @blp.response(200, r.schema)
    @_summary(r, verb)
    def post(self: MethodView, data: dict[str, Any], **path: int) -> dict[str, Any]:
        item = kind.transition(
            verb,
            program_id=program_id(),
            object_id=path[id_arg],
            actor=_actor(),
            reason=data["reason"],
        )
        commit()
        return r.present(item)

    return post
