"""HTTP layer: the app factory and one blueprint per resource."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api.config import DEV_DATA_KEY, load_config


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app from the environment, with `config` overriding it (tests)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config(app.instance_path))
    if config:
        app.config.update(config)
    # No redirect from `//` to `/`: werkzeug answers redirects with an HTML page of its own.
    app.url_map.merge_slashes = False
    if app.config["PROXY_HOPS"]:
        # The client address (rate limits, the failed-authentication throttle) is the one the
        # trusted proxies saw, not the proxy's own; never trusted without a proxy in front.
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_inbound_guard(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    import campaigns.audiences.segments
    import campaigns.challenges.models
    import campaigns.earning.models
    import campaigns.earning.usage
    import campaigns.levels.models  # noqa: F401
    import rewards.events.inbound_models
    import rewards.events.models
    import rewards.models
    import rewards.perks.models
    import rewards.tiers.models  # noqa: F401
    from api import ratelimit, request_limits
    from api.extensions import api, db, limiter, migrate, queues
    from rewards import sealing

    sealing.configure(app.config["DATA_KEY"], app)
    if app.config["DATA_KEY"] == DEV_DATA_KEY and not app.config.get("TESTING"):
        # Anyone with this repository could unseal voucher codes sealed under it.
        logging.getLogger(__name__).warning(
            "DATA_KEY is the public development default: set DATA_KEY (32+ random "
            "characters) before voucher codes are issued in earnest"
        )
    db.init_app(app)
    migrate.init_app(app, db, directory=app.config["MIGRATIONS_DIR"])
    api.init_app(app)
    from api.auth import SECURITY_SCHEMES

    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    limiter.init_app(app)
    ratelimit.init_app(app)
    request_limits.init_app(app)
    queues.init_app(app)


def register_blueprints(app: Flask) -> None:
    from api import docs
    from api.extensions import api
    from api.resources import BLUEPRINTS, health

    api.register_blueprint(health.blp)
    app.register_blueprint(docs.blp)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)


def register_errorhandlers(app: Flask) -> None:
    from api.errors import register

    register(app)


def register_inbound_guard(app: Flask) -> None:
    """Deep JSON, unstorable text and card numbers stopped before any view; logs masked."""
    from api import inbound
    from rewards import logsafe

    inbound.register(app)
    logsafe.install()


def register_commands(app: Flask) -> None:
    from api.cli import register

    register(app)
