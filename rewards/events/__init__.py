"""Domain events out to partners and in from them: the outbox, webhook endpoints, signing,
SSRF-safe delivery and signed inbound events (issue 11)."""
