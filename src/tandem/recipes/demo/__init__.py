"""The demo recipe."""
