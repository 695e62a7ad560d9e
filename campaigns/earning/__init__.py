"""Campaigns: marketer-configured earning rules, from definition to the feed, offers and stats."""
