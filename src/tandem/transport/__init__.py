"""tandem.transport."""
