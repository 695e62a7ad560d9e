"""Tiers: a program's ladder (e.g. Green / Gold / Black) by qualifying points over a rolling
12 months, with an earn multiplier on base points. Upgrades are immediate; downgrades happen
only at the customer's review date, a year after the upgrade."""
