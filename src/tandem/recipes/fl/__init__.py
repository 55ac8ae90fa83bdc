"""The fl recipe."""
