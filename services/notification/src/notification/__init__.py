"""CSM notification service: Every email the cycle sends, exactly once."""
