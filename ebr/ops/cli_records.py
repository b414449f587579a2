"""``ebr audit verify --records`` and ``ebr db baseline-records``: GMP rows against their images in the trail."""

from __future__ import annotations

import click

from ebr.cli.context import services
from ebr.ops.records import baseline, verify_records

SHOWN_FINDINGS = 200


def verify_records_command(actor: str) -> None:
    """Reconcile every GMP table with the trail; print each finding; exit 1 when any."""
    report = verify_records(services(), actor=actor)
    if report.ok:
        click.echo(f"records OK: {report.rows} rows of {report.tables} GMP tables match their last audit images")
        return
    for finding in report.findings[:SHOWN_FINDINGS]:
        click.echo(f"FAIL {finding.describe()}")
    more = len(report.findings) - SHOWN_FINDINGS
    if more > 0:
        click.echo(f"… and {more} more")
    click.echo(
        f"records do NOT match the audit trail: {len(report.findings)} finding(s) in {report.rows} rows; "
        "investigate each (who had database access) and restore the rows from a verified backup"
    )
    raise SystemExit(1)


@click.command("baseline-records")
@click.option("--reason", required=True, help="Why (recorded in the audit trail), e.g. upgrade to 0.2.")
@click.option("--actor", default="system:cli", show_default=True, help="Who takes the baseline (audited).")
def baseline_records(reason: str, actor: str) -> None:
    """Once, right after upgrading an installation: image every GMP row the trail has no image of yet."""
    count = baseline(services(), actor=actor, reason=reason)
    click.echo(f"baseline: {count} row(s) imaged in the audit trail (records.baselined)")


def register(main: click.Group) -> None:
    """``baseline-records`` joins the ``ebr db`` group (``ebr.ops.cli_db``, registered before it)."""
    group = main.commands.get("db")
    if not isinstance(group, click.Group):
        raise RuntimeError("ebr.ops.cli_records needs the `ebr db` group of ebr.ops.cli_db")
    group.add_command(baseline_records)
