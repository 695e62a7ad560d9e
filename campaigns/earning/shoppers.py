"""What the engine knows about customers, loaded for many at once (feed and simulation)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import select

from campaigns.earning.compiled import Shopper
from campaigns.earning.usage import OfferActivation
from rewards.db import among, db
from rewards.models import Customer


def load_shoppers(
    customer_ids: Collection[int],
    *,
    offers: Collection[int],
    segments: Mapping[int, set[int]],
    known_merchants: Mapping[int, set[str]],
) -> dict[int, Shopper]:
    """Shoppers for `customer_ids` in two queries: their activations of the activate-to-earn
    campaigns in `offers`, and their age, tier; segments and merchants come in computed."""
    activations: dict[int, dict[int, datetime]] = defaultdict(dict)
    if offers:
        for campaign_id, customer_id, at in db.session.execute(
            select(
                OfferActivation.campaign_id,
                OfferActivation.customer_id,
                OfferActivation.activated_at,
            ).where(
                among(OfferActivation.customer_id, customer_ids),
                OfferActivation.campaign_id.in_(offers),
            )
        ):
            activations[customer_id][campaign_id] = at
    return {
        customer_id: Shopper(
            customer_id=customer_id,
            birth_date=birth_date,
            tier=tier,
            segments=frozenset(segments.get(customer_id, ())),
            activations=activations.get(customer_id, {}),
            known_merchants=frozenset(known_merchants.get(customer_id, ())),
        )
        for customer_id, birth_date, tier in db.session.execute(
            select(Customer.id, Customer.birth_date, Customer.tier).where(
                among(Customer.id, customer_ids)
            )
        )
    }
