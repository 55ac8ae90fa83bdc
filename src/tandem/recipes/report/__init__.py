"""The report recipe."""
