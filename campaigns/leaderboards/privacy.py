"""Who may appear on a leaderboard. Many cardholders are minors: nobody appears by default.

A customer appears only with leaderboard consent. Consent that came from anywhere but the
cardholder themself (the bank's enrolment file, a processor's API call) counts only for a
customer who was an adult when their account was created and is one today. Anyone who is a
minor today, or whose account was created while they were a minor, appears only after
opting in themself in the app (`PATCH /v1/me`), after the account was created. A customer
whose birth date is unknown is treated as a minor.

Others only ever see a nickname, a rank and a score: never an external ref, an age or spend.
"""

from __future__ import annotations

from datetime import date, datetime

from rewards.customers import age_on

ADULT_AGE = 18


def may_appear(
    *,
    consent: bool,
    opted_in_at: datetime | None,
    birth_date: date | None,
    created_at: datetime,
    today: date,
) -> bool:
    """True if the customer may be shown on leaderboards (see the module docstring).

    `opted_in_at` is when the cardholder themself switched consent on in the app (None if
    they never did, or if consent came from the bank or processor)."""
    if not consent:
        return False
    opted_in_themself = opted_in_at is not None and opted_in_at >= created_at
    if birth_date is None:
        return opted_in_themself
    adult_at_creation = age_on(birth_date, created_at.date()) >= ADULT_AGE
    if adult_at_creation and age_on(birth_date, today) >= ADULT_AGE:
        return True
    return opted_in_themself
