"""gridwall.audit."""
