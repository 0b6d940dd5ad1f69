"""gridwall.grants."""
