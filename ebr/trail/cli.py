"""``ebr audit``: verify the chain or a bundle, make a checkpoint, rotate the system key, export a bundle."""

from __future__ import annotations

import getpass
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from audit.bundle_verify import BundleReport, verify_bundle
from audit.chain import Entity
from audit.keys import fingerprint, public_pem, trusted_key_ids
from audit.trail import head
from ebr.cli.context import services
from ebr.core.errors import ValidationError
from ebr.ops.cli_records import verify_records_command
from ebr.trail import services as audit_service


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
            names = set(archive.namelist())
            name = "events.jsonl" if "events.jsonl" in names else "audit.jsonl"
            return archive.read(name).count(b"\n")
    except (zipfile.BadZipFile, KeyError, OSError):
        return 0


def _trusted(keys: tuple[str, ...], keys_file: Path | None) -> set[str] | None:
    """The pinned key ids from ``--trusted-key`` (fingerprint, PEM file or PEM text) and ``--trusted-keys``."""
    if not keys and keys_file is None:
        return None
    found: set[str] = set()
    for value in keys:
        path = Path(value)
        text = path.read_text(encoding="utf-8") if "-----" not in value and path.is_file() else value
        found |= trusted_key_ids(text)
    if keys_file is not None:
        found |= trusted_key_ids(keys_file.read_text(encoding="utf-8"))
    if not found:
        raise ValidationError("the trusted keys given hold no key; give a fingerprint (SHA256:…) or a PEM public key")
    return found


def _trust_lines(report: BundleReport) -> list[str]:
    used = ", ".join(fingerprint(key_id) for key_id in sorted(report.keys_used)) or "none"
    if report.pinned:
        return [f"system key(s) used: {used} (pinned: each is a trusted key)"]
    return [
        f"system key(s) used: {used}",
        "WARNING: these keys were NOT pinned: compare them with the installation's published fingerprint "
        "(`ebr audit key` there, or the batch record) or pass --trusted-key",
    ]


def _bundle_summary(report: BundleReport) -> str:
    if report.version == 1:
        return (
            f"bundle OK (format v1, legacy: redacted lines do not link the events shown beside them): events "
            f"{report.first_seq}..{report.last_seq} ({report.events} shown, {report.redacted} redacted), "
            f"{report.signatures} signatures, {report.checkpoints} checkpoints"
        )
    previous = f", consistent with tree head {report.previous_tree_size}" if report.previous_tree_size else ""
    return (
        f"bundle OK (format v2, {report.kind}): {report.events} events {report.first_seq}..{report.last_seq}, "
        f"in tree head {report.tree_size} (root {report.root_hash}){previous}, {report.signatures} signatures"
    )


def _verify_bundle(path: Path, trusted: set[str] | None) -> None:
    total = _bundle_lines(path) if sys.stderr.isatty() else 0
    with _progress("verifying bundle", total) as progress:
        report = verify_bundle(path, trusted=trusted, progress=progress)
    if report.ok:
        click.echo(_bundle_summary(report))
        for line in _trust_lines(report):
            click.echo(line)
        return
    for problem in report.problems:
        click.echo(f"FAIL {problem.describe()}")
    for line in _trust_lines(report):
        click.echo(line)
    label = f" (format v{report.version})" if report.version else ""
    click.echo(f"bundle does NOT verify{label}: {len(report.problems)} problem(s)")
    raise SystemExit(1)


@group.command()
@click.option("--bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Verify this bundle.")
@click.option(
    "--trusted-key",
    "trusted_keys",
    multiple=True,
    help="With --bundle: a system key to trust, as its fingerprint (SHA256:…), a PEM file or PEM text (repeatable).",
)
@click.option(
    "--trusted-keys",
    "trusted_keys_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --bundle: a file of the installation's published keys (PEM keys and/or fingerprints).",
)
@click.option("--deep", is_flag=True, help="Also compare every searchable column with the event bytes.")
@click.option("--actor", default=audit_service.VERIFIER, show_default=True, help="Who runs the check (audited).")
@click.option("--records", is_flag=True, help="Instead: compare every GMP row with its last image in the trail.")
def verify(
    bundle: Path | None,
    trusted_keys: tuple[str, ...],
    trusted_keys_file: Path | None,
    deep: bool,
    actor: str,
    records: bool,
) -> None:
    """Verify the live chain against its signed tree heads (or, with --bundle, a bundle offline).

    Exits 0 when intact, 1 when not, printing the first broken seq and the kind of break.
    With --records, reconciles the GMP tables with the trail (docs/audit.md) instead.
    """
    if records:
        verify_records_command(actor)
        return
    if bundle is not None:
        _verify_bundle(bundle, _trusted(trusted_keys, trusted_keys_file))
        return
    if trusted_keys or trusted_keys_file:
        raise ValidationError("--trusted-key and --trusted-keys go with --bundle FILE")
    with _progress("verifying audit chain", _head_seq()) as progress:
        report = audit_service.verify_live(services(), actor=actor, deep=deep, progress=progress)
    if report.ok:
        click.echo(
            f"audit chain OK: {report.events_checked} events, head seq {report.head_seq} "
            f"({report.head_hash}), {report.checkpoints_checked} checkpoints, newest at {report.newest_checkpoint}"
            + (f", {report.timestamps_checked} RFC 3161 time stamps" if report.timestamps_checked else "")
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
    """Sign a tree head over the trail with the system key (also written to the checkpoint log).

    Refused (exit 1, alerted and audited) when the events since the previous tree head do not verify.
    """
    made = audit_service.sign_tree_head(services())
    click.echo(
        f"checkpoint at seq {made.tree_size}: tree head root {made.root_hash}, head {made.head_hash} "
        f"(key {fingerprint(made.key_id)})"
    )


@group.command()
@click.option("--pem", is_flag=True, help="Also print the public key as PEM (to publish beside the fingerprint).")
def key(pem: bool) -> None:
    """Print the installation's system key fingerprint (what auditors pin with --trusted-key)."""
    current, retired = audit_service.installation_keys(services().settings)
    click.echo(f"system key: {fingerprint(current.key_id)}")
    for old in retired:
        click.echo(f"retired key: {fingerprint(old.key_id)} (retired {old.retired_at.isoformat()})")
    if pem:
        click.echo(public_pem(current.public_raw), nl=False)


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
@click.option("--entity", default=None, help="Only this entity's events (TYPE:ID), each with its inclusion proof.")
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
        f"wrote {result.path} (format v2, {result.kind}): {result.events} events "
        f"{result.first_seq}..{result.last_seq}, "
        f"{result.signatures} signatures, tree head at {result.checkpoint_seq}, signed by {fingerprint(result.key_id)}"
    )


def register(main: click.Group) -> None:
    main.add_command(group)
