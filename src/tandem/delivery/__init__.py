"""tandem.delivery."""
