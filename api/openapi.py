"""The OpenAPI document as clients need it, derived in one place for every operation.

- `operationId`: from the view class and HTTP method (`Campaigns.get` → `listCampaigns`,
  `CampaignById.patch` → `updateCampaign`), with a small table for verbs a class name cannot
  carry (`CampaignActivation.post` → `activateCampaign`). New views get one without a line here.
- Error responses: every status an operation documents is `application/problem+json` with the
  `Problem` schema; 429 (the default rate limit covers every `/v1` route), and 400 and 413 for
  any operation with a request body (malformed JSON and the body size limit apply to all).
- Row ids in paths: `<id:name>` routes accept 1..2^31-1 (the database's integer key), and the
  spec says so; anything else is a 404 before the view runs.
- A nullable nested object is `allOf: [$ref]` + `nullable`, so generated clients get its model.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import Flask
from werkzeug.routing import IntegerConverter, Map, Rule

from api.errors import PROBLEM_JSON, ProblemApi

MAX_ID = 2**31 - 1  # ids are PostgreSQL `integer` primary keys

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

# Verbs a class name cannot carry. Everything else is derived (see `operation_id`).
OPERATION_IDS = {
    "healthz.get": "getHealth",
    "PartnerWebhookSecretRotation.post": "rotatePartnerWebhookSecret",
    "PartnerWebhookEndpointReplay.post": "replayPartnerWebhookEndpoint",
    "PartnerWebhookDeliveryReplay.post": "replayPartnerDelivery",
    "WebhookSecretRotation.post": "rotateWebhookSecret",
    "WebhookEndpointReplay.post": "replayWebhookEndpoint",
    "WebhookDeliveryReplay.post": "replayWebhookDelivery",
    "readyz.get": "getReadiness",
    "metrics.get": "getMetrics",
    "CampaignActivation.post": "activateCampaign",
    "CampaignPause.post": "pauseCampaign",
    "CampaignEnd.post": "endCampaign",
    "CampaignSimulation.post": "simulateCampaign",
    "CampaignSimulationStatus.get": "getCampaignSimulation",
    "CampaignStats.get": "getCampaignStats",
    "CampaignVersionByNumber.get": "getCampaignVersion",
    "ChallengeActivation.post": "activateChallenge",
    "ChallengePause.post": "pauseChallenge",
    "ChallengeEnd.post": "endChallenge",
    "PerkActivation.post": "activatePerk",
    "PerkPause.post": "pausePerk",
    "PerkEnd.post": "endPerk",
    "MyRedemptions.post": "redeemPerk",
    "MyVoucherCancellation.post": "cancelMyVoucher",
    "PartnerPerks.post": "createPartnerPerk",
    "PartnerPerkCodes.post": "uploadPartnerPerkCodes",
    "PartnerVoucherRedemption.post": "redeemPartnerVoucher",
    "PartnerStats.get": "getPartnerStats",
    "Customers.post": "enrolCustomer",
    "CustomerCards.post": "enrolCustomerCard",
    "CustomerAdjustments.post": "adjustCustomerPoints",
    "MarqetaFeed.post": "receiveMarqetaTransactions",
    "Me.get": "getMyProfile",
    "Me.patch": "updateMyProfile",
    "MyChallengeJoin.post": "joinMyChallenge",
    "MyOfferActivation.post": "activateMyOffer",
    "SegmentPreview.get": "previewSegment",
    "Levels.get": "getLevelConfig",
    "Levels.put": "replaceLevelConfig",
    "Tiers.get": "getTierLadder",
    "Tiers.put": "replaceTierLadder",
    "Transactions.post": "submitTransactionBatch",
    "TransactionFiles.post": "uploadTransactionFile",
}

# Statuses whose problem response carries a header a client should read.
PROBLEM_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": "The scheme to authenticate with",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before calling again",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}

_BY = re.compile(r"^(?P<noun>.+)By[A-Z][a-z]+$")
_VERBS_ON_ONE = {"get": "get", "patch": "update", "put": "replace", "delete": "delete"}


def _singular(plural: str) -> str:
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    if plural.endswith(("ches", "shes", "sses", "xes")):
        return plural[:-2]
    return plural[:-1]


def operation_id(view_name: str, method: str) -> str:
    """The camelCase operationId of `method` on the MethodView class named `view_name`."""
    method = method.lower()
    override = OPERATION_IDS.get(f"{view_name}.{method}")
    if override:
        return override
    by = _BY.match(view_name)
    if by:  # CampaignById, ProgramBySlug: one row
        return _VERBS_ON_ONE.get(method, method) + by["noun"]
    if view_name.endswith("s"):  # Campaigns, AuditLogEntries: a collection
        if method == "get":
            return "list" + view_name
        if method == "post":
            return "create" + _singular(view_name)
    return _VERBS_ON_ONE.get(method, method) + view_name


def problem_response(status: int) -> dict[str, Any]:
    """The problem+json response object documented for `status`."""
    from api.auth import PROBLEM_DESCRIPTIONS

    response: dict[str, Any] = {
        "description": PROBLEM_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}},
    }
    if status in PROBLEM_HEADERS:
        response["headers"] = PROBLEM_HEADERS[status]
    return response


def _is_error(status: str) -> bool:
    return status.isdigit() and int(status) >= 400


class OperationDocPlugin(BasePlugin):
    """apispec plugin: operationIds and problem responses for every operation."""

    def __init__(self, api: DocumentedApi) -> None:
        self.api = api

    def operation_helper(
        self, path: str | None = None, operations: Any = None, **kwargs: Any
    ) -> None:
        rule: Rule | None = kwargs.get("rule")
        app: Flask | None = self.api._app
        if rule is None or app is None or not operations:
            return
        view_class = getattr(app.view_functions[rule.endpoint], "view_class", None)
        view_name = view_class.__name__ if view_class else rule.endpoint.rpartition(".")[2]
        for method, operation in operations.items():
            operation["operationId"] = operation_id(view_name, method)
            if operation.get("security") != []:  # the probes: no credentials, no limits
                _document_problems(operation)


def _document_problems(operation: dict[str, Any]) -> None:
    # Decorators key responses by int or str; one spelling, so no status appears twice.
    responses = {str(status): response for status, response in operation["responses"].items()}
    responses.pop("default", None)  # a catch-all would make every status "documented"
    statuses = {int(status) for status in responses if _is_error(status)}
    statuses.add(429)
    if any(p.get("in") == "query" for p in operation.get("parameters", ())):
        statuses.add(422)  # an unknown query parameter (see api.extensions)
    if "requestBody" in operation:
        statuses |= {400, 413}
    for status in sorted(statuses):
        responses[str(status)] = problem_response(status)
    operation["responses"] = responses


def nullable_ref(
    converter: Any, field: ma.fields.Field, ret: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """apispec attribute function: `anyOf [{object, nullable}, $ref]` → `allOf [$ref]` +
    `nullable` (OpenAPI 3.0's way, which client generators turn into an optional model)."""
    branches = ret.get("anyOf")
    if not isinstance(field, ma.fields.Nested) or not branches:
        return {}
    refs = [branch for branch in branches if "$ref" in branch]
    if len(refs) == 1 and len(branches) == 2:
        del ret["anyOf"]
        return {"allOf": refs, "nullable": True}
    return {}


class IdConverter(IntegerConverter):
    """`<id:name>`: a row id, 1..2^31-1; other numbers are a 404 before the view runs."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=1, max=MAX_ID)


def id_parameter_schema(converter: IdConverter) -> dict[str, Any]:
    """How `<id:...>` path parameters appear in the spec."""
    return {"type": "integer", "format": "int32", "minimum": 1, "maximum": MAX_ID}


class DocumentedApi(ProblemApi):
    """The app's `Api`: problem+json errors, central operation docs and the `id` converter."""

    # No catch-all error response: each operation lists the statuses it really returns.
    DEFAULT_ERROR_RESPONSE_NAME = None  # type: ignore[assignment]

    def _register_responses(self) -> None:
        # flask-smorest refers to these by name (the 422 of `@blp.arguments`); ours are problems.
        for status in HTTPStatus:
            if status >= 400:
                self.spec.components.response(status.name, problem_response(status), lazy=True)

    def init_app(self, app: Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        """Bind to `app`; routes registered afterwards may use `<id:...>`."""
        app.url_map.converters["id"] = IdConverter
        spec_kwargs = dict(spec_kwargs or {})
        spec_kwargs["extra_plugins"] = [
            *spec_kwargs.get("extra_plugins", ()),
            OperationDocPlugin(self),
        ]
        super().init_app(app, spec_kwargs=spec_kwargs)
        self.register_converter(IdConverter, id_parameter_schema)
        self.ma_plugin.converter.add_attribute_function(nullable_ref)  # type: ignore[union-attr]
