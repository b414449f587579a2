"""`ebr batch` and its errors, as an administrator or supervisor uses them at a shell."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner, Result

from ebr.bootstrap import Services
from ebr.cli import main
from tests.integration.execution.api_support import approve_recipe
from tests.integration.execution.conftest import PASSWORD, SIMPLE, Floor


def _ebr(services: Services, *args: str, password: str | None = None) -> Result:
    env = {"EBR_DATABASE_URL": services.settings.database_url, "EBR_DATA_DIR": str(services.settings.data_dir)}
    return CliRunner().invoke(main, list(args), env=env, input=None if password is None else password + "\n")


def test_a_supervisor_creates_releases_lists_and_shows_a_batch(services: Services, floor: Floor) -> None:
    label = approve_recipe(services, yaml.safe_dump(SIMPLE, allow_unicode=True), "simple.yaml")
    created = _ebr(services, "batch", "create", label, "--size", "80", "--order", "PO-9", "--user", "sam",
                   "--password-stdin", password=PASSWORD)  # fmt: skip
    assert created.exit_code == 0, created.output
    number = created.output.split()[2]
    assert f"created batch {number} of SIMPLE v1, 80 kg, order PO-9" in created.output
    released = _ebr(services, "batch", "release", number, "--user", "sam", "--password-stdin", password=PASSWORD)
    assert f"batch {number} is ready" in released.output
    listed = _ebr(services, "batch", "list")
    assert number in listed.output
    assert "ready / Idle" in listed.output
    shown = _ebr(services, "batch", "show", number, "--json")
    data = json.loads(shown.output)
    assert (data["status"], data["size"], data["open_deviations"]) == ("ready", "80", [])


def test_an_operator_may_not_create_a_batch_and_a_bad_size_is_one_clear_line(services: Services, floor: Floor) -> None:
    label = approve_recipe(services, yaml.safe_dump(SIMPLE, allow_unicode=True), "simple.yaml")
    refused = _ebr(services, "batch", "create", label, "--size", "80", "--order", "PO-9", "--user", "olga",
                   "--password-stdin", password=PASSWORD)  # fmt: skip
    assert refused.exit_code == 2
    assert "'batch.create' is not permitted" in refused.output
    too_big = _ebr(services, "batch", "create", label, "--size", "500", "--order", "PO-9", "--user", "sam",
                   "--password-stdin", password=PASSWORD)  # fmt: skip
    assert too_big.exit_code == 2
    assert "outside the range of recipe SIMPLE (50–150 kg)" in too_big.output
    missing = _ebr(services, "batch", "show", "B-NONE")
    assert missing.output.strip() == "error: no batch 'B-NONE'; `ebr batch list` shows the batches"
