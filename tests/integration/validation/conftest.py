"""An installed system (SQLite, keys, checkpoint log) and tiny test trees for `ebr validate`.

The OQ of these tests runs a tiny suite written into a temporary directory, never
the project's own suite, so `ebr validate` is tested in seconds and never recursively.
"""

from __future__ import annotations

import secrets
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ebr.bootstrap import Services, build_services
from ebr.core.clock import SystemClock
from ebr.core.config import load_settings
from ebr.core.db import unit_of_work
from ebr.setup import initialize
from tests.support.components import require_executable
from tests.support.databases import SqliteDatabases

PASSWORD = "Correct-Horse-Battery-9"
VALIDATOR = "vera"
PRINTED_NAME = "Vera Validator"

PYTEST_INI = """\
[pytest]
addopts = --strict-markers
markers =
    requirement(id): traced by ebr validate
filterwarnings = error
"""


@dataclass
class Installation:
    """Environment variables of an installed system, and its services for inspection."""

    env: dict[str, str]
    services: Services


@dataclass
class Suite:
    """A tiny test tree plus the requirements and clauses files it is validated against."""

    root: Path
    tests: Path
    requirements: Path
    clauses: Path

    def write_tests(self, body: str) -> None:
        source = "import pytest\n\n" + textwrap.dedent(body)
        (self.tests / "test_tiny.py").write_text(source, encoding="utf-8")

    def write_requirements(self, *ids: str, clause: str = "C-1") -> None:
        lines = ["requirements:"]
        lines += [f"  - {{id: {i}, text: requirement {i}, clauses: ['{clause}'], risk: high, area: t}}" for i in ids]
        self.requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def write_clauses(self, *ids: str) -> None:
        lines = ["clauses:", *[f"  - {{id: '{c}', title: clause {c}}}" for c in ids]]
        self.clauses.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def args(self, output: Path) -> list[str]:
        return [
            "validate",
            "-o",
            str(output),
            "--tests",
            str(self.tests),
            "--requirements",
            str(self.requirements),
            "--clauses",
            str(self.clauses),
        ]


@pytest.fixture
def installation(sqlite_databases: SqliteDatabases, tmp_path: Path) -> Iterator[Installation]:
    """`ebr init` done, data directory private, external checkpoint log mounted, a QA validator."""
    env = {
        "EBR_DATABASE_URL": sqlite_databases.fresh(),
        "EBR_DATA_DIR": str(tmp_path / "data"),
        "EBR_CHECKPOINT_LOG_DIR": str(tmp_path / "checkpoint-log"),
        "EBR_SECRET_KEY": secrets.token_hex(32),
    }
    (tmp_path / "checkpoint-log").mkdir()
    services = build_services(load_settings(env), clock=SystemClock())
    initialize(services)
    with unit_of_work(services.session_factory) as session:
        services.users.create(
            session,
            actor="installer",
            user_id=VALIDATOR,
            full_name=PRINTED_NAME,
            roles=["qa"],
            password=PASSWORD,
            must_change=False,
        )
        services.users.accept_accountability(session, user_id=VALIDATOR)
    yield Installation(env=env, services=services)
    services.close()


@pytest.fixture
def suite(tmp_path: Path) -> Suite:
    root = tmp_path / "suite"
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    built = Suite(root, root / "tests", root / "requirements.yaml", root / "clauses.yaml")
    built.write_clauses("C-1")
    return built


def pdf_text(path: Path) -> str:
    """The PDF's text as a reader sees it (pdftotext)."""
    pdftotext = require_executable("pdftotext", "poppler-utils")
    done = subprocess.run([pdftotext, "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return done.stdout
