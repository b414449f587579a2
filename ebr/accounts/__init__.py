"""People and their access: log-in, sessions, users and roles, in the browser, the API and the CLI."""
