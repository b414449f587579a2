"""Errors of training and qualification.

::

    PermissionDenied (ebr.core.errors)
    └── NotQualified        a person lacks a required, valid training (``gaps``: one line each)
    ValidationError (ebr.core.errors)
    └── TrainingRefused     a training record or requirement that the rules do not allow
"""

from __future__ import annotations

from collections.abc import Iterable

from ebr.core.errors import PermissionDenied, ValidationError


class NotQualified(PermissionDenied):
    """Someone may not start or sign a step: a required curriculum is missing or expired."""

    def __init__(self, gaps: Iterable[str]) -> None:
        self.gaps = list(gaps)
        super().__init__(
            "; ".join(self.gaps) + ": record the training (a trainer or supervisor records it, the trainee signs), "
            "or let a qualified person do the step"
        )


class TrainingRefused(ValidationError):
    """A training record or requirement that the rules do not allow; the message says why."""
