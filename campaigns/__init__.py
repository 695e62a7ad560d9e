"""What marketers configure: campaigns, segments, challenges, badges; the rule engine."""
