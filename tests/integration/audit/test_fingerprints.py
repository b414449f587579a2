"""The installation key's fingerprint where auditors and validators read it (`ebr audit key`, validation report)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from audit.keys import fingerprint, load_system_key
from ebr.bootstrap import build_services
from ebr.cli import main
from ebr.core.config import Settings
from ebr.trail.services import ensure_system_key
from validation.report import environment

pytestmark = pytest.mark.requirement("URS-AUD-020")
KEY = "installation key (audit trail)"


def test_the_validation_report_names_the_installation_key_fingerprint(settings: Settings) -> None:
    assert environment(settings)[KEY] == "none yet (run `ebr init`)"
    built = build_services(settings)
    try:
        ensure_system_key(built)
    finally:
        built.close()
    key = load_system_key(settings.keys_dir)
    assert key is not None
    assert environment(settings)[KEY] == fingerprint(key.key_id)


def test_ebr_audit_key_refuses_before_init_and_says_what_to_do(settings: Settings) -> None:
    env = {"EBR_DATABASE_URL": settings.database_url, "EBR_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(main, ["audit", "key"], env=env)
    assert result.exit_code != 0
    assert "run `ebr init`" in result.output
