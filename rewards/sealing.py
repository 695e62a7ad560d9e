"""Secrets at rest: sealed (AES-256-GCM) for display, keyed hashes for equality look-ups.

A database reader holding a sealed token or a look-up hash cannot use the value at a till. Both
keys are derived from one master secret (`DATA_KEY`) with HKDF under distinct labels, so neither
key reveals the other. `configure` sets them for the process when the app is created; nothing
here reads config at import.

A token reads `s1.<key id>.<base64url(nonce | ciphertext | tag)>`. The key id names the key that
sealed it, so a later rotation can keep retired keys for unsealing only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, has_app_context

FORMAT = "s1"
# HKDF stretches entropy, it does not create it: the master must be a long random secret.
MIN_MASTER_CHARS = 32
_NONCE_BYTES = 12  # 96 bits, the size GCM is specified for
_TAG_BYTES = 16
_SEAL_LABEL = b"rewards/sealing/aes-256-gcm/v1"
_LOOKUP_LABEL = b"rewards/sealing/lookup-hmac-sha256/v1"
_KEY_ID_LABEL = b"rewards/sealing/key-id/v1"
_TOKEN = re.compile(r"(?P<format>[a-z0-9]+)\.(?P<key_id>[0-9a-f]{8})\.(?P<payload>[A-Za-z0-9_-]+)")


class SealingError(Exception):
    """A token cannot be unsealed (damaged, tampered, unknown key), or no usable key is set."""


def _derive(master: bytes, label: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label).derive(master)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    """Bytes of unpadded base64url; only the one canonical spelling of them is accepted."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SealingError("The sealed token is tampered or corrupted.") from exc
    # Spare low bits of the last character are ignored by decoding: without this, a changed
    # character could leave the bytes, and so the authentication, unchanged.
    if _encode(raw) != text:
        raise SealingError("The sealed token is tampered or corrupted.")
    return raw


@dataclass(frozen=True, repr=False)
class Keyring:
    """The sealing and look-up keys derived from one master secret (repr hides them)."""

    key_id: str
    _aead: AESGCM
    _lookup_key: bytes

    @classmethod
    def from_master(cls, master: str) -> Keyring:
        """Derive the keys from `master` (at least `MIN_MASTER_CHARS` characters)."""
        if len(master) < MIN_MASTER_CHARS:
            raise SealingError(f"DATA_KEY must be at least {MIN_MASTER_CHARS} characters long.")
        secret = master.encode("utf-8")
        return cls(
            key_id=_derive(secret, _KEY_ID_LABEL, 4).hex(),
            _aead=AESGCM(_derive(secret, _SEAL_LABEL, 32)),
            _lookup_key=_derive(secret, _LOOKUP_LABEL, 32),
        )

    def _associated_data(self) -> bytes:
        # Binds the readable prefix to the ciphertext: relabelling a token breaks its tag.
        return f"{FORMAT}.{self.key_id}".encode("ascii")

    def seal(self, text: str) -> str:
        """Encrypt and authenticate `text` under a fresh random nonce; an ASCII token."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), self._associated_data())
        return f"{FORMAT}.{self.key_id}.{_encode(nonce + sealed)}"

    def unseal(self, token: str) -> str:
        """The text `seal` was given; `SealingError` if the token was altered or is foreign."""
        match = _TOKEN.fullmatch(token)
        if match is None or match["format"] != FORMAT:
            raise SealingError("The value is not a sealed token of a known format.")
        if match["key_id"] != self.key_id:
            raise SealingError(f"The token was sealed with an unknown key ({match['key_id']}).")
        raw = _decode(match["payload"])
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise SealingError("The sealed token is tampered or corrupted.")
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, sealed, self._associated_data())
        except InvalidTag as exc:
            raise SealingError("The sealed token is tampered or corrupted.") from exc
        return plain.decode("utf-8")

    def lookup_hash(self, text: str) -> str:
        """HMAC-SHA256 of `text` in hex: equal texts, equal hashes; useless without the key."""
        return hmac.new(self._lookup_key, text.encode("utf-8"), hashlib.sha256).hexdigest()


_keyring: Keyring | None = None
_APP_KEY = "rewards.sealing"


def configure(master: str, app: Any = None) -> None:
    """Set the keys from the master secret: for `app` (`create_app` does, from `DATA_KEY`),
    which its requests and jobs use, and as the process's fallback outside an app context.
    Per app, so two apps in one process (the tests, the demo) never seal with each other's."""
    global _keyring
    keyring = Keyring.from_master(master)
    if app is not None:
        app.extensions[_APP_KEY] = keyring
    _keyring = keyring


def _current() -> Keyring:
    if has_app_context():
        found = current_app.extensions.get(_APP_KEY)
        if found is not None:
            return found  # type: ignore[no-any-return]
    if _keyring is None:
        raise SealingError("No data key is configured: create the app (DATA_KEY) first.")
    return _keyring


def seal(text: str) -> str:
    """Seal `text` with the configured key (see `Keyring.seal`)."""
    return _current().seal(text)


def unseal(token: str) -> str:
    """Open a token made by `seal` (see `Keyring.unseal`)."""
    return _current().unseal(token)


def lookup_hash(text: str) -> str:
    """The configured keyed hash of `text`, for equality look-ups (see `Keyring.lookup_hash`)."""
    return _current().lookup_hash(text)
