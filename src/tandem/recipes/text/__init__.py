"""The text recipe."""
