"""``ebr audit``: verify the chain or a bundle, make a checkpoint, rotate the system key, export a bundle."""

from __future__ import annotations

import getpass
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from audit.bundle_verify import verify_bundle
from audit.chain import Entity
from audit.trail import head
from ebr import audit_service
from ebr.cli.context import services
from ebr.cli.records import verify_records_command
from ebr.errors import AuditError, ValidationError


@click.group("audit")
def group() -> None:
    """Audit trail: verify, checkpoint, export."""


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal; nothing when output is piped or redirected."""
    if not sys.stderr.isatty() or total <= 0:
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _head_seq() -> int:
    with services().session_factory() as session:
        return head(session)[0]


def _bundle_lines(path: Path) -> int:
    """Events in a bundle, for the progress bar (0 when it cannot be read: verify says why)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read("audit.jsonl").count(b"\n")
    except (zipfile.BadZipFile, KeyError, OSError):
        return 0


def _verify_bundle(path: Path) -> None:
    total = _bundle_lines(path) if sys.stderr.isatty() else 0
    with _progress("verifying bundle", total) as progress:
        report = verify_bundle(path, progress=progress)
    if report.ok:
        click.echo(
            f"bundle OK: events {report.first_seq}..{report.last_seq} ({report.events} shown, "
            f"{report.redacted} redacted), {report.signatures} signatures, {report.checkpoints} checkpoints"
        )
        return
    for problem in report.problems:
        click.echo(f"FAIL {problem.describe()}")
    click.echo(f"bundle does NOT verify: {len(report.problems)} problem(s)")
    raise SystemExit(1)


@group.command()
@click.option("--bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Verify this bundle.")
@click.option("--deep", is_flag=True, help="Also compare every searchable column with the event bytes.")
@click.option("--actor", default=audit_service.VERIFIER, show_default=True, help="Who runs the check (audited).")
@click.option("--records", is_flag=True, help="Instead: compare every GMP row with its last image in the trail.")
def verify(bundle: Path | None, deep: bool, actor: str, records: bool) -> None:
    """Verify the live chain against its checkpoints (or, with --bundle, a bundle offline).

    Exits 0 when intact, 1 when not, printing the first broken seq and the kind of break.
    With --records, reconciles the GMP tables with the trail (docs/audit.md) instead.
    """
    if records:
        verify_records_command(actor)
        return
    if bundle is not None:
        _verify_bundle(bundle)
        return
    with _progress("verifying audit chain", _head_seq()) as progress:
        report = audit_service.verify_live(services(), actor=actor, deep=deep, progress=progress)
    if report.ok:
        click.echo(
            f"audit chain OK: {report.events_checked} events, head seq {report.head_seq} "
            f"({report.head_hash}), {report.checkpoints_checked} checkpoints, newest at {report.newest_checkpoint}"
        )
        return
    first = report.first
    assert first is not None
    click.echo(f"audit chain BROKEN: first broken seq {first.seq} ({first.kind})")
    for found in sorted(report.breaks, key=lambda b: b.seq):
        click.echo(f"FAIL {found.describe()}")
    raise SystemExit(1)


@group.command("rotate-key")
@click.option("--reason", required=True, help="Why (recorded in the audit trail), e.g. the crypto-period ended.")
def rotate_key(reason: str) -> None:
    """Replace the system key that signs checkpoints (the chain is verified first).

    The old key's public half stays in keys/retired/ and is trusted for the checkpoints
    it signed before; back up the keys directory afterwards.
    """
    built = services()
    old, new = audit_service.rotate_system_key(built, actor=f"system:cli:{getpass.getuser()}", reason=reason)
    click.echo(f"system key rotated: {old[:16]}… retired, {new[:16]}… signs from now on")
    click.echo(f"back up {built.settings.keys_dir} now (`ebr backup` includes it)")


@group.command()
def checkpoint() -> None:
    """Sign the current head of the chain with the system key (also written to the checkpoint log)."""
    built = services()
    if built.checkpointer is None:
        raise AuditError("checkpoints are not configured")
    with built.session_factory.begin() as session:
        made = built.checkpointer.checkpoint(session)
    click.echo(f"checkpoint at seq {made.seq}: {made.hash} (key {made.key_id[:16]}…)")


def _entity(text: str | None) -> Entity | None:
    if text is None:
        return None
    entity_type, sep, entity_id = text.partition(":")
    if not sep or not entity_type or not entity_id:
        raise ValidationError(f"--entity {text!r} must look like TYPE:ID, e.g. batch:B-0001")
    return Entity(entity_type, entity_id)


@group.command()
@click.option("--from-seq", type=int, default=1, show_default=True)
@click.option("--to-seq", type=int, default=None, help="Last event (default: the head).")
@click.option("--entity", default=None, help="Only this entity's events (TYPE:ID); the rest are redacted.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--actor", default="system:cli", show_default=True, help="Who exports (audited).")
def export(from_seq: int, to_seq: int | None, entity: str | None, output: Path, actor: str) -> None:
    """Write an auditor's bundle (docs/audit-bundle.md) of events FROM..TO to a ZIP file."""
    scope = _entity(entity)
    total = (to_seq or _head_seq()) - from_seq + 1
    with _progress("exporting", total) as progress:
        result = audit_service.export(
            services(), out_path=output, from_seq=from_seq, to_seq=to_seq, entity=scope, actor=actor, progress=progress
        )
    click.echo(
        f"wrote {result.path}: events {result.first_seq}..{result.last_seq} ({result.events} shown, "
        f"{result.redacted} redacted), {result.signatures} signatures, checkpoint at {result.checkpoint_seq}"
    )


def register(main: click.Group) -> None:
    main.add_command(group)
