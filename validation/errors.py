"""Errors of the validation package.

::

    EbrError (ebr.core.errors)
    └── ValidationPackageError     the validation run cannot be carried out
        ├── RequirementsError      requirements.yaml or clauses.yaml is malformed (also a ValueError)
        └── QualificationError     IQ/OQ/report cannot run (recursion, missing test suite, signing refused)

Failed checks and failed tests are results, not errors: they are reported in the
validation report and make ``ebr validate`` exit 1.
"""

from __future__ import annotations

from ebr.core.errors import EbrError


class ValidationPackageError(EbrError):
    """Root of the validation package's errors."""


class RequirementsError(ValidationPackageError, ValueError):
    """The requirements or clauses file is malformed (also a ValueError for plain callers)."""


class QualificationError(ValidationPackageError):
    """The qualification run cannot be carried out; the message says why and what to do."""
