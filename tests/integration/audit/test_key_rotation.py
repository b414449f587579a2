"""Rotating the system key: the chain stays verifiable, old checkpoints stay trusted, a retired key signs no more."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from audit.bundle_verify import verify_bundle
from audit.checkpoints import sign_checkpoint
from audit.keys import RETIRED_DIR, load_system_key, system_key_path
from audit.models import AuditCheckpoint, AuditEvent, AuditSystemKey
from audit.trail import head
from ebr.bootstrap import Services, build_services
from ebr.cli import main
from ebr.core.clock import to_rfc3339
from ebr.core.errors import ValidationError
from ebr.trail import services as audit_service
from tests.integration.audit.conftest import Append


def _checkpoint_keys(services: Services) -> list[str]:
    with services.session_factory() as session:
        return list(session.scalars(select(AuditCheckpoint.key_id).order_by(AuditCheckpoint.seq)))


@pytest.mark.requirement("URS-AUD-003", "URS-AUD-004", "URS-AUD-005")
def test_after_a_rotation_old_and_new_checkpoints_verify_live_and_in_an_exported_bundle(
    audited: Services, append: Append, tmp_path: Path
) -> None:
    append(7)
    old = load_system_key(audited.settings.keys_dir)
    assert old is not None

    retired_id, new_id = audit_service.rotate_system_key(audited, actor="system:cli:root", reason="crypto-period ended")

    assert retired_id == old.key_id
    assert retired_id != new_id
    current = load_system_key(audited.settings.keys_dir)
    assert current is not None
    assert current.key_id == new_id
    kept = json.loads((audited.settings.keys_dir / RETIRED_DIR / f"{old.key_id}.json").read_text())
    assert kept["key_id"] == old.key_id
    assert "PRIVATE" not in json.dumps(kept)
    append(7)  # automatic checkpoints go on, now under the new key
    keys = _checkpoint_keys(audited)
    assert old.key_id in keys
    assert keys[-1] == new_id
    report = audit_service.verify_live(audited)
    assert report.ok, [b.describe() for b in report.breaks]
    with audited.session_factory() as session:
        rotated = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.system_key.rotated")).one()
        assert (rotated.actor, rotated.reason) == ("system:cli:root", "crypto-period ended")
        rows = {row.key_id: row for row in session.scalars(select(AuditSystemKey))}
    assert rows[old.key_id].valid_to is not None
    assert rows[new_id].valid_from == rows[old.key_id].valid_to
    bundle = tmp_path / "all.zip"
    audit_service.export(audited, out_path=bundle, actor="auditor1")
    checked = verify_bundle(bundle)
    assert checked.ok, [p.describe() for p in checked.problems]


@pytest.mark.requirement("URS-AUD-003")
def test_a_checkpoint_signed_with_a_retired_key_after_its_retirement_is_a_break(
    audited: Services, append: Append
) -> None:
    append(3)
    stolen = load_system_key(audited.settings.keys_dir)
    assert stolen is not None
    audit_service.rotate_system_key(audited, actor="system:cli:root", reason="key may be exposed")
    append(2)
    with audited.session_factory.begin() as session:  # someone still holding the old private key
        seq, hash = head(session)
        forged = sign_checkpoint(stolen, seq=seq, hash=hash, ts=to_rfc3339(audited.clock.now()))
        session.add(
            AuditCheckpoint(seq=seq, hash=hash, ts=audited.clock.now(), key_id=stolen.key_id, sig=forged.sig,
                            line=forged.line())
        )  # fmt: skip
    report = audit_service.verify_live(audited)
    assert not report.ok
    assert any("by a system key retired at" in b.describe() for b in report.breaks), report.breaks


def test_a_rotation_needs_a_reason_and_changes_nothing_without_one(audited: Services, append: Append) -> None:
    append(2)
    before = load_system_key(audited.settings.keys_dir)
    assert before is not None
    with pytest.raises(ValidationError, match="needs a reason"):
        audit_service.rotate_system_key(audited, actor="system:cli:root", reason="  ")
    after = load_system_key(audited.settings.keys_dir)
    assert after is not None
    assert after.key_id == before.key_id
    assert not (audited.settings.keys_dir / RETIRED_DIR).exists()


def test_another_running_process_signs_with_the_new_key_at_its_next_checkpoint(
    audited: Services, append: Append
) -> None:
    append(1)
    other = build_services(audited.settings)  # the web app or the scheduler, started before the rotation
    try:
        assert other.checkpointer is not None
        with other.session_factory.begin() as session:
            before = other.checkpointer.checkpoint(session)
        _old, new_id = audit_service.rotate_system_key(audited, actor="system:cli:root", reason="yearly")
        append(1)
        with other.session_factory.begin() as session:
            after = other.checkpointer.checkpoint(session)
    finally:
        other.close()
    assert before.key_id != new_id
    assert after.key_id == new_id
    assert audit_service.verify_live(audited).ok


def test_the_cli_rotates_the_key_and_says_to_back_it_up(audited: Services, append: Append) -> None:
    append(2)
    env = {
        "EBR_DATABASE_URL": audited.settings.database_url,
        "EBR_DATA_DIR": str(audited.settings.data_dir),
        "EBR_CHECKPOINT_LOG_DIR": str(audited.settings.checkpoint_log_dir),
    }
    old = load_system_key(audited.settings.keys_dir)
    result = CliRunner().invoke(main, ["audit", "rotate-key", "--reason", "yearly rotation"], env=env)
    assert result.exit_code == 0, result.output
    assert "system key rotated" in result.output
    assert "back up" in result.output
    assert old is not None
    assert system_key_path(audited.settings.keys_dir).exists()
    refused = CliRunner().invoke(main, ["audit", "rotate-key"], env=env)
    assert refused.exit_code == 2
    assert "--reason" in refused.output
