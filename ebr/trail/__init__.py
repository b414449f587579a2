"""The audit trail in the browser, the API and the CLI: search, integrity, export."""
