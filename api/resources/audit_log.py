"""Placeholder blueprint, replaced by the resource's implementation."""

from flask_smorest import Blueprint

blp = Blueprint("audit_log", __name__, url_prefix="/v1")
