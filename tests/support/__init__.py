"""Test helpers shared across suites: servers the tests start on loopback."""
