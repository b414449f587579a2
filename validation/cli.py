"""``ebr validate``: qualify the installation (IQ, OQ, traceability) and write the signed report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ebr.cli.context import services


def _password(signer: str | None, from_stdin: bool) -> str | None:
    if signer is None:
        return None
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    # Asked before the run, so a long OQ does not wait for the validator at its end.
    password: str = click.prompt(f"Password of {signer} (to sign the report 'approved')", hide_input=True)
    return password


@click.command("validate")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Report PDF.")
@click.option("--signer", metavar="USER", help="Sign the report 'approved' as USER (asks for the password).")
@click.option("--password-stdin", is_flag=True, help="Read the signer's password from the first line of stdin.")
@click.option("--tests", "tests_dir", type=click.Path(file_okay=False, path_type=Path), help="Test suite to run.")
@click.option("--oq-pattern", "pattern", metavar="EXPR", help="Run only tests matching this pytest -k expression.")
@click.option("--requirements", type=click.Path(dir_okay=False, path_type=Path), help="Requirements file.")
@click.option("--clauses", type=click.Path(dir_okay=False, path_type=Path), help="Expected clauses file.")
@click.option("--constraints", type=click.Path(dir_okay=False, path_type=Path), help="Pinned versions file.")
@click.option("--skip-iq", is_flag=True, help="Do not run the IQ (the report then records a deviation).")
@click.option("--timeout", default=3600, show_default=True, type=int, help="Seconds the OQ may take.")
def validate(signer: str | None, password_stdin: bool, **chosen: Any) -> None:
    """Run IQ and OQ, trace requirements to clauses and tests, write the PDF/A report.

    Exit status 0: no deviation (and signed when --signer is given); 1: deviations,
    each named on the terminal and in the report; 2: the run could not be made.
    """
    from validation import run  # imports pytest (about 0.4 s): only when asked for, not on every `ebr`

    options = run.Options(signer=signer, password=_password(signer, password_stdin), **chosen)
    outcome = run.validate(services(), options)
    for line in outcome.lines():
        click.echo(line)
    click.echo(f"report written to {options.output}")
    if not outcome.passed:
        if signer:
            click.echo("not signed: a report with deviations is not offered for approval", err=True)
        raise SystemExit(1)


def register(main: click.Group) -> None:
    main.add_command(validate)
