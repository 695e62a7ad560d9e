"""Domain errors. `api/errors.py` maps each class to one HTTP problem type."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a business rule refused the operation."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(DomainError):
    """The object does not exist in the caller's program."""


class Conflict(DomainError):
    """The request conflicts with the current state (duplicate, replay with another body)."""


class InvalidInput(DomainError):
    """A value is well-formed but not acceptable (unknown currency, PAN-like card token...)."""

    def __init__(
        self, detail: str, *, field: str | None = None, errors: dict | None = None
    ) -> None:
        super().__init__(detail, field=field)
        self.errors = errors or ({field: [detail]} if field else {})


class PermissionDenied(DomainError):
    """The caller is authenticated but may not do this."""
