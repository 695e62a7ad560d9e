"""One flask-smorest blueprint per resource; `BLUEPRINTS` is the registration order."""

from api.resources import (
    adjustments,
    api_keys,
    audit_log,
    batches,
    campaign_insights,
    campaigns,
    customer_files,
    customers,
    marqeta,
    me,
    offers,
    partners,
    programs,
    segments,
    tiers,
    transactions,
)

BLUEPRINTS = [
    programs.blp,
    api_keys.blp,
    customers.blp,
    customer_files.blp,
    transactions.blp,
    marqeta.blp,
    batches.blp,
    me.blp,
    offers.blp,
    adjustments.blp,
    audit_log.blp,
    campaigns.blp,
    campaign_insights.blp,
    segments.blp,
    partners.blp,
    tiers.blp,
]
