"""The hash-chained, tamper-evident audit trail (contract: docs/audit-bundle.md).

Use :class:`audit.trail.AuditTrail` (built once in ``ebr.bootstrap``) and call
``trail.record(session, actor=..., action=..., entity=Entity(type, id), before=...,
after=..., reason=...)`` inside the same transaction as the change it records.
"""
