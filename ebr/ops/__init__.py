"""Running the system in production: logging, metrics, backup and restore."""
