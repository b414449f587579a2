"""Installation qualification checks: each finds the misconfiguration a validator would."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ebr.core.config import Settings, load_settings
from validation.iq import (
    FileChecksum,
    check_checkpoint_log,
    check_code,
    check_configuration,
    check_packages,
    code_checksums,
    parse_pins,
    pinned_versions,
)

GOOD_KEY = "k" * 64


def settings_for(tmp_path: Path, secret: str = GOOD_KEY) -> Settings:
    return load_settings({"EBR_DATA_DIR": str(tmp_path / "data"), "EBR_SECRET_KEY": secret})


def private_dirs(settings: Settings) -> None:
    settings.data_dir.mkdir(mode=0o700)
    settings.keys_dir.mkdir(mode=0o700)
    settings.checkpoint_log_dir.mkdir(mode=0o700)


def test_pins_are_read_with_their_markers_and_normalized_names() -> None:
    pins = parse_pins(
        ["Flask_WTF==1.3.0", "psycopg[binary]==3.3.9", 'pytest==9.2.0; extra == "test"', "# x==1", "a>=2"]
    )
    assert pins == {"flask-wtf": ("1.3.0", ""), "psycopg": ("3.3.9", ""), "pytest": ("9.2.0", 'extra == "test"')}


@pytest.mark.requirement("URS-VAL-001")
def test_the_installed_packages_match_the_shipped_pins() -> None:
    root = Path(__file__).parents[3]
    required, optional = pinned_versions(root / "constraints.txt")
    assert {"flask", "sqlalchemy", "weasyprint", "pytest"} <= set(required)
    result = check_packages(required, optional)
    assert result.passed, [f for f in result.findings if f.startswith("FAIL")]


@pytest.mark.requirement("URS-VAL-001")
def test_a_package_at_another_version_or_missing_fails_the_iq_and_says_how_to_fix() -> None:
    result = check_packages({"flask": "0.0.1", "no-such-package-ebr": "1.0"}, {"also-not-there": "2"})
    assert not result.passed
    failures = [f for f in result.findings if f.startswith("FAIL")]
    assert any("flask: installed 3." in f and "pinned 0.0.1" in f for f in failures)
    assert any("no-such-package-ebr: not installed" in f for f in failures)
    assert "also-not-there: not installed (optional), pinned 2" in result.findings


@pytest.mark.requirement("URS-VAL-001")
@pytest.mark.parametrize(("secret", "problem"), [("", "is not set"), ("short-secret", "has 12 characters")])
def test_a_missing_or_weak_secret_key_fails_the_iq(tmp_path: Path, secret: str, problem: str) -> None:
    settings = settings_for(tmp_path, secret)
    private_dirs(settings)
    result = check_configuration(settings)
    assert not result.passed
    assert any(problem in f for f in result.findings)


@pytest.mark.requirement("URS-VAL-001")
def test_a_data_directory_others_can_read_fails_the_iq_with_the_chmod_to_run(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    private_dirs(settings)
    assert check_configuration(settings).passed
    settings.data_dir.chmod(0o755)
    result = check_configuration(settings)
    assert not result.passed
    assert f"chmod 700 {settings.data_dir}" in " ".join(result.findings)


@pytest.mark.requirement("URS-VAL-001")
def test_a_checkpoint_log_that_is_missing_or_not_a_directory_fails_the_iq(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert not check_checkpoint_log(settings).passed
    settings.data_dir.mkdir()
    settings.checkpoint_log_dir.write_text("not a directory")
    assert not check_checkpoint_log(settings).passed
    settings.checkpoint_log_dir.unlink()
    settings.checkpoint_log_dir.mkdir()
    assert check_checkpoint_log(settings).passed
    assert os.listdir(settings.checkpoint_log_dir) == [], "the probe file must not stay behind"


@pytest.mark.requirement("URS-VAL-001")
def test_every_installed_python_file_is_listed_with_its_sha256() -> None:
    sums = code_checksums()
    paths = {c.path for c in sums}
    assert {"ebr/core/config.py", "audit/trail.py", "validation/iq.py"} <= paths
    own = Path(__file__).parents[3] / "validation" / "iq.py"
    digest = hashlib.sha256(own.read_bytes()).hexdigest()
    assert next(c.sha256 for c in sums if c.path == "validation/iq.py") == digest


@pytest.mark.requirement("URS-VAL-001")
def test_a_file_that_differs_from_the_installation_record_fails_the_iq() -> None:
    sums = (FileChecksum("ebr/a.py", "0" * 64, True), FileChecksum("ebr/b.py", "1" * 64, False))
    result = check_code(sums)
    assert not result.passed
    assert "FAIL ebr/b.py differs from the installed version; reinstall the release" in result.findings
    assert check_code(sums[:1]).passed
