"""The hash-chained, tamper-evident audit trail (contract: docs/audit-bundle.md)."""
