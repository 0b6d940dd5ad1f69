"""gridwall.monitor."""
