"""Unbound extension instances; `create_app` binds them. Nothing here connects at import."""

from flask_migrate import Migrate
from flask_smorest import Blueprint
from marshmallow import RAISE

from api.openapi import DocumentedApi
from api.ratelimit import CallerLimiter, caller_key
from rewards.db import db
from workers.queues import Queues

__all__ = ["api", "db", "limiter", "migrate", "queues"]

migrate = Migrate()
api = DocumentedApi(
    spec_kwargs={
        "info": {"description": "Rewards engine for co-branded youth cards."},
        "servers": [{"url": "/"}],
    }
)
limiter = CallerLimiter(key_func=caller_key)
queues = Queues()

# A query parameter no operation knows (a misspelt filter, `?stauts=active`) is a 422 naming
# it, not silently ignored with unfiltered results; webargs' default excludes them. The
# parser is the one every `@blp.arguments` of flask-smorest uses, read at each request.
Blueprint.ARGUMENTS_PARSER.DEFAULT_UNKNOWN_BY_LOCATION = {
    **Blueprint.ARGUMENTS_PARSER.DEFAULT_UNKNOWN_BY_LOCATION,
    "query": RAISE,
    "querystring": RAISE,
}
