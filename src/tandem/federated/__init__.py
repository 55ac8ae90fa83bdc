"""tandem.federated."""
