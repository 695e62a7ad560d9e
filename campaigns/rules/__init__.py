"""The condition language shared by campaigns, challenges and (later) perks: which purchases
count (`conditions`) and for whom (`audience`).

- `checking`: `Checker`, validation primitives naming every problem by its exact path.
- `conditions` / `audience`: validate a block (`check_conditions`, `check_audience`) and
  compile it (`Conditions`, `Audience`) into immutable values judged on plain facts.
- `facts`: `Purchase` and `Shopper`, the facts rules are judged on.
- `index`: `RuleIndex`, rules filed by merchant, MCC, category and partner.
- `sections`: `section_validator`, both blocks validated for a resource's own validator.
"""

from campaigns.rules.audience import Audience, age_on, check_audience
from campaigns.rules.checking import Checker, checked, join
from campaigns.rules.conditions import CHANNELS, REFUSED_CATEGORIES, Conditions, check_conditions
from campaigns.rules.facts import Purchase, Shopper
from campaigns.rules.index import RuleIndex
from campaigns.rules.sections import SectionValidator, section_validator

__all__ = [
    "CHANNELS",
    "REFUSED_CATEGORIES",
    "Audience",
    "Checker",
    "Conditions",
    "Purchase",
    "RuleIndex",
    "SectionValidator",
    "Shopper",
    "age_on",
    "check_audience",
    "check_conditions",
    "checked",
    "join",
    "section_validator",
]
