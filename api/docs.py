"""Browsable API docs served offline: Swagger UI's assets come from the installed
`swagger-ui-bundle` package, never from a CDN, so `/docs` works on a closed network.

ReDoc is not served: every PyPI package that ships `redoc.standalone.js` pulls in another web
framework (Django, flask-openapi3), and vendoring it from npm would add Node to the install;
`/redoc` redirects to `/docs`, which renders the same spec.
"""

from __future__ import annotations

from flask import Blueprint, redirect, send_from_directory, url_for
from flask.typing import ResponseReturnValue
from swagger_ui_bundle import swagger_ui_path

from api.extensions import limiter

ASSETS_URL = "/docs/assets/"
# A day: the files change only when the package is upgraded.
ASSET_MAX_AGE = 24 * 3600

blp = Blueprint("docs_assets", __name__)


@blp.get(f"{ASSETS_URL}<path:filename>")
@limiter.exempt
def swagger_ui_asset(filename: str) -> ResponseReturnValue:
    """A file of the installed Swagger UI distribution (scripts, stylesheet, icons)."""
    return send_from_directory(swagger_ui_path, filename, max_age=ASSET_MAX_AGE)


@blp.get("/redoc")
@limiter.exempt
def redoc() -> ResponseReturnValue:
    """ReDoc is not shipped (see the module docstring): the same spec in Swagger UI."""
    return redirect(url_for("api-docs.openapi_swagger_ui"), code=301)
