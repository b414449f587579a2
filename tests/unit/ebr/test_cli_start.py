"""``ebr`` starts without the heavy libraries only some commands need (seconds at every command)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("weasyprint", "matplotlib", "scipy.stats")


def test_the_ebr_command_starts_without_pdf_charts_or_statistics() -> None:
    probe = f"import sys, ebr.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == [], f"imported at start-up: {done.stdout.strip()} (import them in the command)"
