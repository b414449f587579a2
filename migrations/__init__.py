"""Alembic migrations of the EBR schema (shipped as package data).

One base revision, then one branch per domain package (branch labels ``audit``,
``signatures``, ``recipes``, ``equipment``, ``app``); ``ebr db upgrade`` goes to
all heads. See docs/migrations.md.
"""
