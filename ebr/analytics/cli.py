"""``ebr report apr`` and ``ebr analytics …``: the annual product review, parameter declarations,
baselines and control charts without a browser.

Who asks proves it with a password (prompted, or one line on standard input with
``--password-stdin``) and needs ``analytics.view`` (the review, a chart) or
``analytics.manage`` (declarations, baselines). Every change and every review
produced is audited.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from ebr.cli.context import services
from ebr.core.db import unit_of_work
from ebr.core.errors import ValidationError

if TYPE_CHECKING:
    from ebr.analytics.services import SourceSpec

# ebr.analytics.review.FORMATS, named here so that `ebr` starts without importing the review and
# the statistics under it (scipy, matplotlib: seconds at every command); a test holds them equal.
# The analytics modules are imported by the commands that use them.
APR_FORMATS = ("csv", "pdf", "xlsx")


def _actor(user: str, password_stdin: bool, action: str) -> str:
    from signatures.permissions import require

    password = (
        sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(f"password of {user}", hide_input=True)
    )
    svc = services()
    with svc.session_factory.begin() as session:
        found = svc.users.authenticate(session, user, str(password))
        require(found.roles, action)
        return found.user_id


def _who(func: Any) -> Any:
    func = click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")(func)
    return click.option("--user", required=True, help="Your user id (QA; auditors may read).")(func)


@click.group("report")
def report() -> None:
    """Reports across batches (the annual product review)."""


@report.command("apr")
@click.argument("product")
@click.option("--year", required=True, help="The calendar year (plant time zone), e.g. 2026.")
@click.option("--format", "fmt", type=click.Choice(APR_FORMATS), default="pdf", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@_who
def apr(product: str, year: str, fmt: str, output: Path | None, user: str, password_stdin: bool) -> None:
    """Write the annual product review of PRODUCT: PDF/A (apr.json attached), or its data as CSV or XLSX."""
    from ebr.analytics import review

    actor = _actor(user, password_stdin, "analytics.view")
    produced = review.produce(services(), product=product, year=review.parse_year(year), fmt=fmt, actor=actor)
    target = output or Path(produced.filename)
    target.write_bytes(produced.data)
    click.echo(f"wrote {target}: annual product review of {product} {year}, {produced.batches} batches ({fmt})")


@click.group("analytics")
def group() -> None:
    """Declared parameters, baselines and control charts (continued process verification)."""


def _sources(entry: dict[str, Any], where: str) -> list[SourceSpec]:
    from ebr.analytics.services import SourceSpec

    found = []
    for index, source in enumerate(entry.get("sources") or []):
        if not isinstance(source, dict):
            raise ValidationError(f"{where}.sources[{index}] must be a mapping with recipe, step and entry")
        found.append(
            SourceSpec(
                recipe_name=str(source.get("recipe", "")),
                step_path=str(source.get("step", "")),
                entry_name=str(source.get("entry", "value")),
                recipe_version=str(source.get("version", "*")),
            )
        )
    return found


@group.command("declare")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", required=True, help="Why (e.g. the CPV plan and its version).")
@_who
def declare(file: Path, reason: str, user: str, password_stdin: bool) -> None:
    """Declare (or change) the parameters listed in FILE (YAML; see docs/analytics.md)."""
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ValidationError(f"{file} is not valid YAML: {problem}{where}; fix it and run again") from None
    entries = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValidationError(f"{file} needs a list under 'parameters:'; see docs/analytics.md")
    from ebr.analytics import services as analytics

    actor = _actor(user, password_stdin, "analytics.manage")
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        for index, entry in enumerate(entries):
            where = f"parameters[{index}]"
            if not isinstance(entry, dict):
                raise ValidationError(f"{where} must be a mapping with id, product, title and sources")
            analytics.declare_parameter(
                session, svc.audit, svc.clock, actor=actor, parameter_id=str(entry.get("id", "")),
                product_code=str(entry.get("product", "")), title=str(entry.get("title", "")),
                sources=_sources(entry, where), unit=entry.get("unit"), critical=bool(entry.get("critical", False)),
                lsl=entry.get("lsl"), usl=entry.get("usl"), ruleset=str(entry.get("ruleset", "nelson")), reason=reason,
            )  # fmt: skip
    click.echo(f"declared {len(entries)} parameter(s) from {file}")


@group.command("baseline")
@click.argument("parameter")
@click.argument("batches", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why these batches (e.g. 'PPQ batches').")
@_who
def baseline(parameter: str, batches: tuple[str, ...], reason: str, user: str, password_stdin: bool) -> None:
    """Fix the control limits of PARAMETER to the values of BATCHES (released batches)."""
    from ebr.analytics import services as analytics

    actor = _actor(user, password_stdin, "analytics.manage")
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        analytics.set_baseline(session, svc.audit, actor=actor, parameter_id=parameter, batches=batches, reason=reason)
    click.echo(f"baseline of {parameter}: {len(batches)} batches")


@group.command("chart")
@click.argument("parameter")
@click.option("--last", type=int, default=50, show_default=True, help="The last N released batches.")
def chart(parameter: str, last: int) -> None:
    """Print the control chart of PARAMETER: values, limits, rules broken, capability."""
    from ebr.analytics import services as analytics

    with services().session_factory() as session:
        found = analytics.control_chart(session, parameter, last=last)
    for point in found.points:
        flags = ", ".join(f"rule {b.rule}" for b in found.breaks_of(point.batch_number))
        click.echo(f"{point.batch_number}\t{point.value}\t{flags}")
    if found.limits is not None:
        limits = found.limits
        click.echo(f"CL {limits.center:.4g}  LCL {limits.lcl:.4g}  UCL {limits.ucl:.4g}  MR̄ {limits.mr_bar:.4g}")
    cap = found.capability
    if cap is not None and cap.cpk is not None:
        click.echo(f"Cp {cap.cp if cap.cp is None else f'{cap.cp:.3g}'}  Cpk {cap.cpk:.3g}  Ppk {cap.ppk or 0:.3g}")
    for note in found.notes + (cap.notes if cap else []):
        click.echo(f"note: {note}")


def register(main: click.Group) -> None:
    main.add_command(report)
    main.add_command(group)
