"""Offline verification of an export bundle, over nothing but the ZIP file (docs/audit-bundle.md §6).

Format v2 bundles are verified per the project's contract; v1 bundles (exported before
v2) are still verified per the v1 spec and labelled v1. ``trusted`` pins the system
keys (key ids) an auditor obtained from the installation out of band; without it the
report lists the keys that were relied on and says they were not pinned.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Set
from pathlib import Path
from typing import IO

from audit.bundle_common import BundleReport, Problem, parse_json
from audit.bundle_v1 import FORMAT as FORMAT_V1
from audit.bundle_v1 import verify_v1
from audit.bundle_v2 import FORMAT as FORMAT_V2
from audit.bundle_v2 import verify_v2

__all__ = ["FORMAT_V1", "FORMAT_V2", "BundleReport", "Problem", "verify_bundle"]
Progress = Callable[[int], None]


def _format(archive: zipfile.ZipFile) -> object:
    try:
        manifest = parse_json(archive.read("manifest.json"))
    except (KeyError, ValueError):
        return None
    return manifest.get("format") if isinstance(manifest, dict) else None


def verify_bundle(
    source: Path | IO[bytes], *, trusted: Set[str] | None = None, progress: Progress | None = None
) -> BundleReport:
    """Verify a bundle file; never raises for a bad bundle, reports it (with ``version`` 1 or 2)."""
    report = BundleReport()
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        report.add(str(source), "", f"not a readable ZIP file ({exc})")
        return report
    with archive:
        if _format(archive) == FORMAT_V1:
            verify_v1(archive, report, progress)
            report.pinned = trusted is not None
            for key_id in sorted(report.keys_used - set(trusted or report.keys_used)):
                report.add("checkpoints.jsonl", "", f"signed by key {key_id}, which is not a trusted key")
        else:
            verify_v2(archive, report, trusted=trusted, progress=progress)
    return report
