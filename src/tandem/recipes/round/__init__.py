"""The round recipe: ``tandem round start|status|close`` (admin commands over the admin API)."""
