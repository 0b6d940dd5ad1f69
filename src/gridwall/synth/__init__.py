"""gridwall.synth."""
