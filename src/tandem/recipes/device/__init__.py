"""The device recipe."""
