"""gridwall.web."""
