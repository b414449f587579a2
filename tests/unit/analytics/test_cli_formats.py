"""``ebr report apr`` offers exactly the formats the review writes."""

from __future__ import annotations

import click

from ebr.analytics import review
from ebr.cli import main


def test_the_apr_command_offers_every_format_of_the_review_and_no_other() -> None:
    report = main.commands["report"]
    assert isinstance(report, click.Group)
    [fmt] = [param for param in report.commands["apr"].params if param.name == "fmt"]
    assert isinstance(fmt.type, click.Choice)
    assert sorted(fmt.type.choices) == sorted(review.FORMATS)
