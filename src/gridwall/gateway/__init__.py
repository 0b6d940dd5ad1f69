"""gridwall.gateway."""
