"""tandem.fleet."""
