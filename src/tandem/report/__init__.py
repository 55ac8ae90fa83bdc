"""tandem.report."""
