"""XP and levels: experience from activity (points earned, challenges completed, streak days),
levels by XP thresholds per program, and the XP history weekly and monthly boards rank by."""
