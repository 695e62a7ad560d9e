"""Challenges: goals a cardholder chases within a window (count, spend, distinct merchants or
categories, streaks), their progress, completion and revocation, and the badges they award.

Pure logic (no database) lives in `windows`, `goals`, `streaks`, `completion`, `definition`
and `wording`; the tables in `models`. Which purchases qualify is decided by the shared
condition language (`campaigns.rules`), never here.
"""
