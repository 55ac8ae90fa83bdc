"""The serve recipe."""
