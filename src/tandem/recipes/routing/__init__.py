"""The routing recipe."""
