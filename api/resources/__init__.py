"""One flask-smorest blueprint per resource; `BLUEPRINTS` is the registration order."""

from api.resources import (
    api_keys,
    batches,
    customers,
    marqeta,
    me,
    programs,
    transactions,
)

BLUEPRINTS = [
    programs.blp,
    api_keys.blp,
    customers.blp,
    transactions.blp,
    marqeta.blp,
    batches.blp,
    me.blp,
]
