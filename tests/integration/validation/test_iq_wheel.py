"""IQ-06 against a real wheel install: every file verifies against the installer's RECORD; an edited one fails.

The development checkout is an editable install (no RECORD), so this test builds the
project's wheel (pip, PEP 517, from a copy of the source so the checkout stays clean),
installs it into a directory with ``pip install --target`` and runs the IQ code check in
a separate interpreter that imports the installed copy first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".hypothesis", "node_modules", "tests",
)  # fmt: skip
CHECK = (
    "import json, ebr, validation.iq as iq; r = iq.check_code(iq.code_checksums()); "
    "print(json.dumps({'module': ebr.__file__, 'passed': r.passed, 'findings': list(r.findings)}))"
)

pytestmark = pytest.mark.slow


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _iq(target: Path) -> dict[str, object]:
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, cwd=target)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=SKIP)
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(work / "dist"), str(source))
    [wheel] = list((work / "dist").glob("ebr_system-*.whl"))
    _pip("install", "--quiet", "--no-deps", "--target", str(work / "site"), str(wheel))
    return work / "site"


@pytest.mark.requirement("URS-VAL-001")
def test_the_iq_verifies_every_file_of_a_wheel_install_against_its_record(installed: Path) -> None:
    result = _iq(installed)
    assert result["module"] == str(installed / "ebr" / "__init__.py"), "the installed copy is the one checked"
    assert result["passed"] is True, result["findings"]
    findings = list(result["findings"])  # type: ignore[call-overload]
    listed = int(findings[0].split()[0])
    assert findings[1] == f"{listed} verified against the installation record"


@pytest.mark.requirement("URS-VAL-001")
def test_a_file_edited_after_installation_fails_the_iq_with_its_path(installed: Path) -> None:
    edited = installed / "ebr" / "review" / "services.py"
    original = edited.read_bytes()
    edited.write_bytes(original + b"\n# patched on the server\n")
    try:
        result = _iq(installed)
    finally:
        edited.write_bytes(original)
    assert result["passed"] is False
    assert "FAIL ebr/review/services.py differs from the installed version; reinstall the release" in result["findings"]  # type: ignore[operator]
