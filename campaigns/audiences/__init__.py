"""Audiences: rule-based customer segments that campaigns (and challenges) target."""
