"""The trust recipe."""
