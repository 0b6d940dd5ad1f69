"""gridwall.identity."""
