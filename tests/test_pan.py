"""The PAN detector: every written form of a card number is found, random ids rarely are."""

from __future__ import annotations

import logging
import random

import pytest

from rewards.logsafe import PanMaskingFilter
from rewards.pan import contains_pan, find_pans, looks_like_pan, mask_pans

# The networks' published test numbers (all pass Luhn), with their masks worked out by hand.
TEST_CARDS = {
    "visa16": ("4111111111111111", "411111******1111"),
    "visa13": ("4222222222222", "422222***2222"),
    "visa19": ("4000000000000000006", "400000*********0006"),
    "mastercard": ("5555555555554444", "555555******4444"),
    "mastercard-2": ("2223003122003222", "222300******3222"),
    "amex": ("378282246310005", "378282*****0005"),
    "discover": ("6011111111111117", "601111******1117"),
    "discover-65": ("6500000000000002", "650000******0002"),
    "diners14": ("36227206271667", "362272****1667"),
    "jcb": ("3530111333300000", "353011******0000"),
    "unionpay": ("6200000000000005", "620000******0005"),
}

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


def _grouped(digits: str, separator: str) -> str:
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


FORMS = {
    "plain": lambda d: d,
    "spaces": lambda d: _grouped(d, " "),
    "dashes": lambda d: _grouped(d, "-"),
    "dots": lambda d: _grouped(d, "."),
    "slashes": lambda d: _grouped(d, "/"),
    "underscores": lambda d: _grouped(d, "_"),
    "spaced dash": lambda d: _grouped(d, " - "),
    "en dash": lambda d: _grouped(d, "\u2013"),
    "full-width": lambda d: d.translate(FULL_WIDTH),
    "full-width spaced": lambda d: _grouped(d.translate(FULL_WIDTH), "\u3000"),
    "arabic-indic": lambda d: d.translate(ARABIC_INDIC),
    "devanagari": lambda d: d.translate(DEVANAGARI),
    "prefix and suffix": lambda d: f"card no: {d} (exp 12/29)",
    "inside a word": lambda d: f"ref{d}xyz",
    "after another number": lambda d: f"order 77 {_grouped(d, ' ')}",
}


@pytest.mark.parametrize("form", FORMS)
def test_every_form_of_every_network_is_found_and_masked(form):
    for digits, masked in TEST_CARDS.values():
        text = FORMS[form](digits)

        matches = find_pans(text)

        assert [m.digits for m in matches] == [digits], text
        assert contains_pan(text) and looks_like_pan(text)
        result = mask_pans(text)
        assert masked in result
        assert not contains_pan(result)


def test_masking_keeps_the_text_around():
    text = "Paid with 4111-1111-1111-1111 at Noodle Bar, and 5555 5555 5555 4444 too"
    assert mask_pans(text) == ("Paid with 411111******1111 at Noodle Bar, and 555555******4444 too")


@pytest.mark.parametrize(
    "text",
    [
        "1234567812345670",  # Luhn-valid, no network issues numbers starting with 1
        "9999999999999995",  # Luhn-valid, no network
        "3782822463100003",  # Luhn-valid with an Amex prefix, but 16 digits (Amex: 15)
        "4111111111111112",  # a Visa prefix, Luhn fails
        "x41111111111111110",  # digits glued on make it another, 17-digit number
        "2024-05-01T12:00:00+09:00 batch 12 of 40",
        "",
    ],
)
def test_numbers_that_are_not_card_numbers_pass(text):
    assert find_pans(text) == []
    assert mask_pans(text) == text


def _luhn(digits: str) -> bool:
    """Luhn written from its definition (double every second digit from the right)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char) * (2 if i % 2 else 1)
        total += n // 10 + n % 10
    return total % 10 == 0


def test_false_positive_rate_on_random_numeric_ids(capsys):
    """Luhn alone would refuse ~10% of numeric ids; with issuer ranges it stays under 2%."""
    rng = random.Random(20261202)
    ids = []
    for _ in range(100_000):
        length = rng.randint(13, 19)
        ids.append(str(rng.randrange(10 ** (length - 1), 10**length)))

    flagged = sum(contains_pan(value) for value in ids)
    luhn_only = sum(_luhn(value) for value in ids)

    rate = flagged / len(ids)
    with capsys.disabled():
        print(
            f"\nPAN false positives on 100,000 random 13-19 digit ids: {rate:.2%} "
            f"(Luhn alone: {luhn_only / len(ids):.2%})"
        )
    assert 0.09 < luhn_only / len(ids) < 0.11
    assert rate < 0.02
    assert all(_luhn(value) for value in ids if contains_pan(value))


def test_log_records_are_masked_in_message_args_and_traceback(caplog):
    logger = logging.getLogger("tests.pan")
    handler_filter = PanMaskingFilter()
    caplog.set_level(logging.DEBUG, logger="tests.pan")
    try:
        raise ValueError("bad card ４１１１ １１１１ １１１１ １１１１")
    except ValueError:
        record = logger.makeRecord(
            "tests.pan",
            logging.ERROR,
            __file__,
            1,
            "card %s and %s",
            ("4111-1111-1111-1111", 5555555555554444),
            exc_info=__import__("sys").exc_info(),
        )
    assert handler_filter.filter(record) is True
    text = logging.Formatter().format(record)

    assert "411111******1111" in text and "555555******4444" in text
    assert not contains_pan(text)
    assert "Traceback" in text


def test_records_from_any_logger_are_masked_once_the_app_is_built(app, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("some.library").warning("got %s", "4111 1111 1111 1111")
    logging.getLogger("other.library").debug("GET /v1/customers/5555555555554444 HTTP/1.1")

    assert "411111******1111" in caplog.text and "555555******4444" in caplog.text
    assert not contains_pan(caplog.text)
