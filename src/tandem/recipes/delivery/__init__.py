"""The delivery recipe."""
