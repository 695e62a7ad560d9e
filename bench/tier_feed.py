"""Feed throughput with a tier ladder against none (the cost of multipliers and reassessment).

    .venv/bin/python bench/tier_feed.py [--transactions 50000] [--customers 20000]

Runs `bench/campaign_scaling.py`'s feed (15 live campaigns, gunicorn, 2 workers) twice on
fresh databases: once without tiers, once with a three-tier ladder (half the customers Gold),
so every chunk loads the ladder, reads tiers and reassesses its customers. Prints both rates
and the ratio."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import campaign_scaling

LADDER = {
    "tiers": [
        {"code": "green", "name": "Green", "threshold": 0, "earn_multiplier": "1"},
        {"code": "gold", "name": "Gold", "threshold": 20000, "earn_multiplier": "1.25"},
        {"code": "black", "name": "Black", "threshold": 100000, "earn_multiplier": "1.5"},
    ]
}


def _with_ladder(launch):
    def launch_and_tier(env: dict[str, str], definitions: list[dict]) -> None:
        launch(env, definitions)
        os.environ.update(env)
        from sqlalchemy import update

        from api import create_app
        from rewards.db import db
        from rewards.models import Customer, Program
        from rewards.tiers.config import replace_ladder

        app = create_app()
        with app.app_context():
            program_id = db.session.query(Program.id).filter_by(slug="bench").scalar()
            replace_ladder(program_id=program_id, body=LADDER, actor="bench", actor_role="bench")
            db.session.execute(update(Customer).where(Customer.id % 2 == 0).values(tier="gold"))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()

    return launch_and_tier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    plain = campaign_scaling.run(10, args)
    campaign_scaling._launch = _with_ladder(campaign_scaling._launch)
    tiered = campaign_scaling.run(10, args)
    print("-" * 60)
    print(f"without tiers: {plain:>7,.0f} transactions/s")
    print(f"with tiers:    {tiered:>7,.0f} transactions/s ({tiered / plain:.0%} of without)")


if __name__ == "__main__":
    main()
