"""Built-in federated strategies, one file each; importing this package registers them."""
