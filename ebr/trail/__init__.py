"""The audit trail's pages and commands: search, verify, export (the trail itself is ``audit/``)."""
