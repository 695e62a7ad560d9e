"""Text PostgreSQL can store: no NUL characters and no lone UTF-16 surrogates."""

from __future__ import annotations

UNSTORABLE_MESSAGE = (
    "contains characters that cannot be stored (NUL, a lone UTF-16 surrogate or bytes "
    "that are not UTF-8)"
)


def storable(text: str) -> bool:
    """True if `text` can be stored as PostgreSQL text (and encoded as UTF-8)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (from JSON "\ud800" or undecodable bytes)
        return False
    return True


def clean_text(text: str) -> str:
    """`text` without the characters that cannot be stored (for names we keep, not refuse)."""
    if storable(text):
        return text
    return text.encode("utf-8", "ignore").decode("utf-8").replace("\x00", "")
