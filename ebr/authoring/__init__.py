"""Recipe authoring, review and approval in the browser, the API and the CLI."""
