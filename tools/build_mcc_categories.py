"""Derive rewards/data/mcc_categories.csv from the ISO 18245 list in ../shared/data/mcc_codes.csv.

Run: python tools/build_mcc_categories.py [path/to/mcc_codes.csv]
The output ships inside the package; this script is how it was made and how to remake it.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "data" / "mcc_codes.csv"
TARGET = ROOT / "rewards" / "data" / "mcc_categories.csv"

# Exact codes first (they win over ranges), then inclusive ranges, checked in order.
EXACT = {
    "cash_like": {"4829", "6010", "6011", "6012", "6050", "6051", "6211", "6540"},
    "gambling": {"7800", "7801", "7802", "7995"},
    "dining": {"5811", "5812", "5813", "5814"},
    "groceries": {"5411", "5422", "5441", "5451", "5462", "5499", "5300"},
    "fuel": {"5541", "5542", "5983", "5172"},
    "transport": {"4111", "4112", "4121", "4131", "4784", "4789", "7523", "4119"},
    "travel": {
        "4411",
        "4457",
        "4468",
        "4511",
        "4582",
        "4722",
        "4723",
        "7011",
        "7012",
        "7032",
        "7033",
        "7512",
        "7513",
        "7519",
        "3000",
    },
    "digital": {"5815", "5816", "5817", "5818", "4816", "5734", "7372"},
    "entertainment": {
        "7829",
        "7832",
        "7841",
        "7911",
        "7922",
        "7929",
        "7932",
        "7933",
        "7941",
        "7991",
        "7992",
        "7993",
        "7994",
        "7996",
        "7997",
        "7998",
        "7999",
        "5733",
        "5735",
        "5945",
        "5942",
        "5994",
    },
    "health": {"5912", "5975", "5976", "5047", "5122", "8062", "8071", "8099", "4119"},
    "education": {"8211", "8220", "8241", "8244", "8249", "8299", "8351", "5943"},
    "utilities": {"4812", "4814", "4815", "4821", "4899", "4900"},
    "government": {"9211", "9222", "9223", "9311", "9399", "9402", "9405", "9950"},
    "financial": {"6300", "6381", "6399", "6513", "6012"},
}
RANGES = [
    ("3000", "3350", "travel"),  # airlines
    ("3351", "3500", "travel"),  # car rental
    ("3501", "3999", "travel"),  # hotels and resorts
    ("0742", "1799", "services"),
    ("2741", "2842", "services"),
    ("5000", "5199", "shopping"),  # wholesale / B2B supplies
    ("5200", "5299", "shopping"),  # home and hardware
    ("5300", "5399", "shopping"),
    ("5500", "5599", "transport"),  # vehicles, parts, dealers
    ("5600", "5699", "shopping"),  # clothing
    ("5700", "5799", "shopping"),  # home furnishing and electronics
    ("5900", "5999", "shopping"),
    ("7200", "7299", "services"),  # personal services
    ("7300", "7399", "services"),  # business services
    ("7500", "7599", "transport"),  # auto services
    ("7600", "7699", "services"),  # repairs
    ("8000", "8099", "health"),
    ("8100", "8999", "services"),
    ("9000", "9999", "government"),
]


def categorize(mcc: str) -> str:
    """The reward category of one MCC, or 'other'."""
    for category, codes in EXACT.items():
        if mcc in codes:
            return category
    for low, high, category in RANGES:
        if low <= mcc <= high:
            return category
    return "other"


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE
    with source.open(newline="") as src, TARGET.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["mcc", "category", "description"])
        for row in csv.DictReader(src):
            writer.writerow([row["mcc"], categorize(row["mcc"]), row["edited_description"]])
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
