"""Imports every package's models so ``Base.metadata`` describes the whole schema.

Used by Alembic's env.py and by tests that compare models with migrations.
"""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "audit.models",
    "signatures.models",
    "recipes.models",
    "equipment.models",
    "ebr.models",
    "ebr.jobs.models",
    "ebr.analytics.models",
    "ebr.integration.models",
    "ebr.performance.models",
    "ebr.training.models",
)


def load_all_models() -> None:
    """Import each models module once (a no-op on later calls)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
