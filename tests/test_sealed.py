"""Secrets at rest: sealed tokens round-trip, refuse tampering and foreign keys; keyed look-ups."""

from __future__ import annotations

import hashlib
import math
import re
import string

import pytest

from rewards import sealing
from rewards.sealing import Keyring, SealingError

MASTER = "m" * 32 + "-a-master-secret-for-these-tests"
OTHER_MASTER = "o" * 32 + "-another-master-secret-for-tests"
CODE = "K7QM-2XHD-9WPA-R4TB"
BASE64URL = string.ascii_letters + string.digits + "-_"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.from_master(MASTER)


def _variants(token: str, start: int) -> list[str]:
    """Every token that differs from `token` in exactly one character at or after `start`."""
    return [
        token[:i] + other + token[i + 1 :]
        for i in range(start, len(token))
        for other in (BASE64URL[(BASE64URL.index(token[i]) + 1) % 64],)
        if token[i] in BASE64URL
    ]


@pytest.mark.parametrize("text", [CODE, "", "ünïcødé ✓ 🎟", '{"entry": {"points": 40}}', "x" * 5000])
def test_a_sealed_value_unseals_to_itself(keyring, text):
    token = keyring.seal(text)

    assert token.isascii() and token.isprintable()
    assert keyring.unseal(token) == text
    assert text == "" or text not in token


def test_a_token_names_its_format_and_key(keyring):
    token = keyring.seal(CODE)

    assert re.fullmatch(r"s1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+", token)
    assert token.split(".")[1] == keyring.key_id
    # 12 bytes of nonce, the 19 bytes of text and a 16-byte tag, base64url without padding.
    assert len(token.split(".")[2]) == math.ceil((12 + 19 + 16) * 4 / 3)


def test_two_seals_of_one_value_differ(keyring):
    tokens = {keyring.seal(CODE) for _ in range(50)}

    assert len(tokens) == 50
    # The random part is the nonce at the start of the payload, never repeated.
    assert len({token.split(".")[2][:16] for token in tokens}) == 50


def test_every_one_character_change_of_a_token_is_refused(keyring):
    token = keyring.seal(CODE)
    payload_start = token.rindex(".") + 1

    for tampered in _variants(token, payload_start):
        with pytest.raises(SealingError, match="tampered"):
            keyring.unseal(tampered)


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t[:-1],  # truncated
        lambda t: t + "A",  # lengthened
        lambda t: t[: t.rindex(".") + 10],  # shorter than nonce + tag
        lambda t: t + "==",  # padded
        lambda t: t[:-2] + "+/",  # standard base64, not base64url
        lambda t: t.replace(".", ":"),
        lambda t: "s2" + t[2:],  # a format we do not know
        lambda t: t.split(".", 1)[1],  # no format
        lambda t: "",
    ],
)
def test_damaged_tokens_are_refused(keyring, damage):
    with pytest.raises(SealingError):
        keyring.unseal(damage(keyring.seal(CODE)))


def test_a_token_sealed_under_another_master_is_refused_as_an_unknown_key(keyring):
    foreign = Keyring.from_master(OTHER_MASTER).seal(CODE)

    with pytest.raises(SealingError, match="unknown key"):
        keyring.unseal(foreign)


def test_a_foreign_token_relabelled_with_our_key_id_is_refused(keyring):
    foreign = Keyring.from_master(OTHER_MASTER).seal(CODE)
    relabelled = ".".join(["s1", keyring.key_id, foreign.split(".")[2]])

    with pytest.raises(SealingError, match="tampered"):
        keyring.unseal(relabelled)


def test_lookup_hash_is_stable_and_keyed(keyring):
    again = Keyring.from_master(MASTER)
    other = Keyring.from_master(OTHER_MASTER)

    digest = keyring.lookup_hash(CODE)

    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == keyring.lookup_hash(CODE) == again.lookup_hash(CODE)
    assert digest != other.lookup_hash(CODE)
    assert digest != keyring.lookup_hash(CODE.lower())
    # Not a plain hash that anyone holding the database could compute for a guessed code.
    assert digest != hashlib.sha256(CODE.encode()).hexdigest()


@pytest.mark.parametrize("master", ["", "short", "x" * 31])
def test_a_short_master_secret_is_refused(master):
    with pytest.raises(SealingError, match="DATA_KEY"):
        Keyring.from_master(master)


def test_the_app_binds_the_module_functions_to_its_data_key(app):
    own = Keyring.from_master(app.config["DATA_KEY"])

    assert sealing.unseal(own.seal(CODE)) == CODE
    assert own.unseal(sealing.seal(CODE)) == CODE
    assert sealing.lookup_hash(CODE) == own.lookup_hash(CODE)


def test_the_default_data_key_is_only_for_development(app, monkeypatch):
    from api.config import load_config

    monkeypatch.delenv("DATA_KEY", raising=False)

    assert "dev-only" in load_config(app.instance_path)["DATA_KEY"]


def test_the_data_key_comes_from_the_environment(app, monkeypatch):
    from api.config import load_config

    monkeypatch.setenv("DATA_KEY", MASTER)

    assert load_config(app.instance_path)["DATA_KEY"] == MASTER
