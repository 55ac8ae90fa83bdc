"""tandem.routing."""
