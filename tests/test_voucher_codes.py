"""Voucher codes: entropy, a readable alphabet, a check character, typed variants, uploads."""

from __future__ import annotations

import math
import re

import pytest

from rewards.perks.codes import (
    ALPHABET,
    check_character,
    check_code,
    new_code,
    normalise_code,
    validate_uploaded_code,
)

SHAPE = re.compile(r"[2-9A-HJKMNP-TV-Y]{4}(-[2-9A-HJKMNP-TV-Y]{4}){3}")
# Worked by hand. A symbol's value is its index in the alphabet; position p (from 1) weighs p;
# the check value c at position 16 makes the weighted sum 0 (mod 29). 16·20 ≡ 1, so c = -20·S.
# "222222222222223": S = 15·1 = 15, c = -300 ≡ 19 → "N".
HAND_WORKED = "2222-2222-2222-223N"
# "YYYYYYYYYYYYYYY": S = 28·120 = 3360 ≡ 25, c = -500 ≡ 22 → "R".
ALL_Y = "YYYY-YYYY-YYYY-YYYR"
# K=17 7=5 Q=21 M=18 2=0 X=27 H=15 D=11 9=7 W=26 P=20 A=8 R=22 4=2 T=24:
# S = 1830 ≡ 3, c = -60 ≡ 27 → "X".
MIXED = "K7QM-2XHD-9WPA-R4TX"
# None: a freshly generated code.
CODES = [HAND_WORKED, ALL_Y, MIXED, None, None, None]


def _compact(code: str) -> str:
    return code.replace("-", "")


def _grouped(compact: str) -> str:
    return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def test_the_alphabet_has_no_look_alikes_and_a_prime_size():
    assert ALPHABET == "23456789ABCDEFGHJKMNPQRSTVWXY"
    assert len(set(ALPHABET)) == len(ALPHABET) == 29
    assert all(len(ALPHABET) % d for d in range(2, len(ALPHABET)))  # prime: see the check
    assert not set("0O1IL") & set(ALPHABET)


def test_a_new_code_reads_in_four_groups_of_four_with_over_64_bits():
    code = new_code()

    assert SHAPE.fullmatch(code), code
    # 15 random symbols of 29 (the 16th is the check character).
    assert 15 * math.log2(29) >= 64
    assert len(_compact(code)) == 16
    assert check_code(code)


def test_new_codes_use_every_symbol_at_every_position_and_never_repeat():
    codes = [new_code() for _ in range(2000)]

    assert len(set(codes)) == len(codes)
    for position in range(15):
        seen = {_compact(code)[position] for code in codes}
        assert seen == set(ALPHABET), position  # P(a symbol missing) ≈ 29·(28/29)^2000


def test_the_check_character_matches_the_hand_worked_examples():
    for code in (HAND_WORKED, ALL_Y, MIXED):
        assert check_character(_compact(code)[:15]) == code[-1]
        assert check_code(code)
    assert check_character("2" * 15) == "2"  # all values 0: the sum is already 0


@pytest.mark.parametrize("payload", ["", "2" * 14, "2" * 16, "22222222222222O", "2222222222222a2"])
def test_the_check_character_needs_fifteen_symbols_of_the_alphabet(payload):
    with pytest.raises(ValueError):
        check_character(payload)


@pytest.mark.parametrize("code", CODES)
def test_every_single_substitution_is_caught(code):
    code = code or new_code()
    compact = _compact(code)
    assert check_code(code)

    for position in range(16):
        for symbol in ALPHABET.replace(compact[position], ""):
            wrong = compact[:position] + symbol + compact[position + 1 :]
            assert not check_code(_grouped(wrong)), (code, position, symbol)


@pytest.mark.parametrize("code", CODES)
def test_every_adjacent_transposition_is_caught_including_the_check_character(code):
    code = code or new_code()
    compact = _compact(code)
    swaps = 0

    for position in range(15):
        a, b = compact[position], compact[position + 1]
        if a == b:
            continue  # swapping equal symbols changes nothing
        swapped = compact[:position] + b + a + compact[position + 2 :]
        assert not check_code(_grouped(swapped)), (code, position)
        swaps += 1
    assert swaps >= 1


def _valid_code_with(position: int, a: str, b: str) -> str:
    """A valid compact code holding `a` then `b` at `position`, `position + 1`."""
    for first in ALPHABET:  # the first symbol (weight 1) steers the check through all values
        payload = [first] + ["2"] * 14
        payload[position : position + 2] = [a, b]
        compact = "".join(payload[:15])
        compact += check_character(compact)
        if compact[position : position + 2] == a + b:
            return compact
    raise AssertionError((position, a, b))


def test_every_adjacent_pair_of_symbols_is_caught_when_swapped_at_every_position():
    # The check is linear: whether swapping (a, b) at (i, i+1) is caught does not depend on the
    # other symbols, so one code per (i, a, b) covers every code, the check character included.
    for position in range(15):
        for a in ALPHABET:
            for b in ALPHABET.replace(a, ""):
                valid = _valid_code_with(position, a, b)
                swapped = valid[:position] + b + a + valid[position + 2 :]
                assert check_code(_grouped(valid))
                assert not check_code(_grouped(swapped)), (position, a, b)


@pytest.mark.parametrize(
    "typed",
    [
        "k7qm-2xhd-9wpa-r4tx",
        "K7QM 2XHD 9WPA R4TX",
        "k7qm2xhd9wpar4tx",
        "  K7QM-2XHD - 9WPA-R4TX  ",
        "K7QM\u20132XHD\u20149WPA\u2010R4TX",  # dashes a phone keyboard inserts
        "Ｋ７ＱＭ－２ＸＨＤ　９ＷＰＡ－Ｒ４ＴＸ",  # full-width, from an East Asian input method
    ],
)
def test_typed_variants_normalise_to_the_issued_form(typed):
    assert normalise_code(typed) == MIXED
    assert check_code(typed)
    assert normalise_code(MIXED) == MIXED


@pytest.mark.parametrize(
    "typed",
    ["", "K7QM-2XHD-9WPA", "K7QM-2XHD-9WPA-R4TBX", "K7QM-2XH0-9WPA-R4TB", "K7QM-2XHD-9WPA-R4T*"],
)
def test_wrong_lengths_and_foreign_symbols_fail_the_check(typed):
    assert not check_code(typed)


@pytest.mark.parametrize(
    "raw", ["ABCD", "SUMMER-2024-0001", "x" * 64, "  PROMO 10  ", "Été-Ünï-42"]
)
def test_printable_partner_codes_of_4_to_64_characters_are_accepted(raw):
    assert validate_uploaded_code(raw) is None


@pytest.mark.parametrize(
    "raw, message",
    [
        ("4111111111111111", "card number"),
        ("4111 1111 1111 1111", "card number"),
        ("VOUCHER-5555555555554444", "card number"),
        ("378282246310005", "card number"),
        ("ABC", "4 to 64"),
        ("   AB   ", "4 to 64"),
        ("x" * 65, "4 to 64"),
        ("ABCD\tEFGH", "printable"),
        ("ABCD\x00", "printable"),
        ("ABCD\u202eEFGH", "printable"),  # a bidi override that reorders what a cashier sees
        ("ABCD\ud800", "printable"),
    ],
)
def test_unusable_partner_codes_are_refused_with_a_reason(raw, message):
    error = validate_uploaded_code(raw)

    assert error is not None and message in error
    assert raw.strip() not in error  # the reason never repeats the code itself


def test_an_uploaded_number_that_is_not_a_card_number_is_accepted():
    # 16 digits that fail Luhn, and a Luhn-valid number in no card network's range.
    assert validate_uploaded_code("4111111111111112") is None
    assert validate_uploaded_code("9999999999999995") is None
