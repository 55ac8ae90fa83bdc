"""tandem.device."""
