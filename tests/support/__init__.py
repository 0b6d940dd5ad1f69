"""Test support shared by every test package: in-process doubles of the seams
(:mod:`support.doubles`) and the gateway's minimal interim demo (:mod:`support.interim_demo`).
Nothing here ships in the package."""
