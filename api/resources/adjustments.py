"""Placeholder blueprint, replaced by the resource's implementation."""

from flask_smorest import Blueprint

blp = Blueprint("adjustments", __name__, url_prefix="/v1")
