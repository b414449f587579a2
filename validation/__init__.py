"""Validation package: requirements, IQ/OQ and the validation report."""
