"""Unbound extension instances; `create_app` binds them. Nothing here connects at import."""

from flask_migrate import Migrate

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
