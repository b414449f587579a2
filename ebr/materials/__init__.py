"""Materials, lots, containers and genealogy (application layer)."""
