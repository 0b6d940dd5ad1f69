"""gridwall.lookup."""
