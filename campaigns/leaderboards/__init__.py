"""Leaderboards: rankings per program or challenge, served from Redis, rebuilt from PostgreSQL."""
