"""The pure XP formula and ladder look-up, against hand-worked figures."""

from __future__ import annotations

from campaigns.levels.rules import Facts, XpRules, level_for, xp_for


def test_xp_floors_once_on_the_exact_product():
    rules = XpRules.from_stored({"per_point": "0.3333", "per_challenge": 7, "per_streak_day": 2})
    # 3 × 0.3333 = 0.9999 → 0; 3,001 × 0.3333 = 1000.2333 → 1000.
    assert xp_for(Facts(points=3), rules) == 0
    assert xp_for(Facts(points=3001, challenges=2, streak_days=5), rules) == 1000 + 14 + 10


def test_defaults_and_negative_net_points():
    rules = XpRules.from_stored({})
    assert xp_for(Facts(points=1009, challenges=1, streak_days=1), rules) == 100 + 50 + 5
    assert xp_for(Facts(points=-50), rules) == 0  # a debt of points is no negative XP


def test_level_for_thresholds():
    ladder = [0, 100, 500]
    assert [level_for(xp, ladder) for xp in (0, 99, 100, 499, 500, 10**9)] == [1, 1, 2, 2, 3, 3]
    assert level_for(12345, []) == 1
