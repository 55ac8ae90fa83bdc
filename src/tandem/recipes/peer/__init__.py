"""The peer recipe."""
