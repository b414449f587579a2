"""The foundation: configuration, database, canonical JSON, clock, ids, errors, units and the input boundary.

Everything of ours sits above it; it imports nothing of ours (tests/test_architecture.py).
"""
