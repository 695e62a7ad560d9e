"""Voucher codes: the ones the platform generates, and checks on the ones partners upload.

A generated code is 15 random symbols and one check character from a 29-symbol alphabet
without look-alikes, read aloud in groups of four: `K7QM-2XHD-9WPA-R4TX`. What a cardholder or
till types is normalised (case, spaces, dashes, full-width forms) before it is checked or
looked up. Codes are secrets: callers store them sealed and hashed (`rewards.sealing`) and
never log them.
"""

from __future__ import annotations

import secrets
import unicodedata

from rewards.pan import contains_pan

# Digits and upper-case letters without 0 O 1 I L (look-alikes), U (profanity, as Crockford)
# and Z (read as 2 in handwriting). 29 is prime, which the check character relies on.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXY"
PAYLOAD_LENGTH = 15
CODE_LENGTH = PAYLOAD_LENGTH + 1
GROUP = 4
_VALUES = {symbol: value for value, symbol in enumerate(ALPHABET)}
_MODULUS = len(ALPHABET)
# The check value c solves 16·c ≡ -S (mod 29); multiplying by 16's inverse gives c.
_CHECK_FACTOR = pow(CODE_LENGTH, -1, _MODULUS)
# Dashes a keyboard, phone or word processor may put in, besides the ASCII one.
_EXTRA_SEPARATORS = frozenset("\u2212")

UPLOADED_MIN, UPLOADED_MAX = 4, 64


def new_code() -> str:
    """A fresh code, e.g. `K7QM-2XHD-9WPA-R4TX`.

    Entropy: 15 symbols drawn uniformly from 29 by `secrets`, 15·log2(29) ≈ 72.9 bits (the
    check character adds none).
    """
    payload = "".join(secrets.choice(ALPHABET) for _ in range(PAYLOAD_LENGTH))
    return _grouped(payload + check_character(payload))


def check_character(payload: str) -> str:
    """The check symbol for 15 payload symbols.

    With symbol values v (their index in `ALPHABET`) and positions p counted from 1, the check
    makes Σ p·v ≡ 0 (mod 29) over all 16 symbols. 29 is prime and the weights 1..16 are nonzero
    and pairwise distinct modulo 29, so every single substitution (p·(v - v') ≢ 0) and every
    adjacent transposition ((v - v')·(p - (p+1)) ≢ 0) changes the sum, check symbol included.
    """
    if len(payload) != PAYLOAD_LENGTH or not set(payload) <= _VALUES.keys():
        raise ValueError(f"a payload is {PAYLOAD_LENGTH} symbols of the code alphabet")
    weighted = _weighted_sum(payload)
    return ALPHABET[(-weighted * _CHECK_FACTOR) % _MODULUS]


def _weighted_sum(symbols: str) -> int:
    return sum(position * _VALUES[symbol] for position, symbol in enumerate(symbols, start=1))


def _grouped(compact: str) -> str:
    return "-".join(compact[start : start + GROUP] for start in range(0, len(compact), GROUP))


def _is_separator(char: str) -> bool:
    # Pd: every Unicode dash (hyphen, en and em dash, the full-width one...).
    return char.isspace() or unicodedata.category(char) == "Pd" or char in _EXTRA_SEPARATORS


def normalise_code(typed: str) -> str:
    """What a person or till typed, in the issued form: upper case, grouped by four.

    Full-width and other compatibility forms become ASCII (NFKC); whitespace and dashes are
    dropped and the groups re-made. The alphabet holds no look-alikes, so no letter is mapped
    to another: a typed O, 0, I, 1, L, U or Z stays and fails `check_code`.
    """
    text = unicodedata.normalize("NFKC", typed).upper()
    return _grouped("".join(char for char in text if not _is_separator(char)))


def check_code(typed: str) -> bool:
    """True if `typed`, once normalised, is a well-formed code whose check character holds."""
    compact = normalise_code(typed).replace("-", "")
    return (
        len(compact) == CODE_LENGTH
        and set(compact) <= _VALUES.keys()
        and _weighted_sum(compact) % _MODULUS == 0
    )


def validate_uploaded_code(raw: str) -> str | None:
    """Why a partner's own code cannot be stored, or None if it can.

    The code checked is `raw.strip()`, which is what is stored: partners' codes keep their own
    form and are not normalised into our alphabet. The message never repeats the code.
    """
    code = raw.strip()
    if not UPLOADED_MIN <= len(code) <= UPLOADED_MAX:
        return f"A code must be {UPLOADED_MIN} to {UPLOADED_MAX} characters long."
    # Refuses control and format characters (tabs, NUL, bidi overrides that reorder what a
    # cashier sees), lone surrogates and any whitespace but the plain space.
    if not code.isprintable():
        return "A code must hold printable characters only."
    if contains_pan(code):
        return "A code must not look like a card number (PAN)."
    return None
