"""Phase rules without a database: limits, tolerances, potency, holds, lot status, deviation signatures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ebr.core.errors import StateError, ValidationError
from ebr.execution import rules
from ebr.execution.phases import check_value
from ebr.execution.rules import DeviationKind, Severity
from recipes.phases import DataEntry, EntryKind

D = Decimal
T0 = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)


@pytest.mark.requirement("URS-SYS-006")
@pytest.mark.parametrize(
    ("value", "in_limits"),
    [(D("15"), True), (D("30"), True), (D("14.99"), False), (D("30.01"), False), (D("22.5"), True)],
)
def test_limits_include_their_bounds_and_exclude_anything_beyond(value: Decimal, in_limits: bool) -> None:
    assert rules.check_limits(value, D("15"), D("30"), "°C").in_limits is in_limits


def test_an_out_of_limit_message_names_the_value_and_the_limit() -> None:
    assert rules.check_limits(D("31"), D("15"), D("30"), "°C").message == "31 °C is above the high limit 30 °C"
    assert rules.check_limits(D("1"), D("15"), None).message == "1 is below the low limit 15"


@pytest.mark.requirement("URS-SYS-006")
@pytest.mark.parametrize("raw", ["abc", "", "1,5", "NaN", "Infinity", 1.5, True])
def test_a_value_that_is_not_an_exact_number_is_refused(raw: object) -> None:
    with pytest.raises(ValidationError):
        rules.parse_decimal("temperature", raw)


def test_a_decimal_string_keeps_its_digits() -> None:
    assert str(rules.parse_decimal("x", " 12.500 ")) == "12.500"


@pytest.mark.requirement("URS-BAT-004")
def test_the_potency_adjusted_target_delivers_the_active_quantity() -> None:
    assert rules.potency_adjusted(D("30"), D("99.5")).quantize(D("0.001")) == D("30.151")
    assert rules.potency_adjusted(D("30"), None) == D("30")
    with pytest.raises(ValidationError, match="potency 0%"):
        rules.potency_adjusted(D("30"), D("0"))


@pytest.mark.requirement("URS-BAT-004")
def test_tolerance_is_relative_in_percent_and_absolute_otherwise() -> None:
    assert rules.tolerance_band(D("24"), D("0.5"), "%") == (D("23.88"), D("24.12"))
    assert rules.tolerance_band(D("1"), D("0.010"), "kg") == (D("0.990"), D("1.010"))
    rules.check_tolerance("net", D("24.12"), D("24"), D("0.5"), "%", "kg")
    with pytest.raises(ValidationError, match=r"24\.13 kg is out of tolerance"):
        rules.check_tolerance("net", D("24.13"), D("24"), D("0.5"), "%", "kg")


def test_a_hold_cannot_end_before_its_minimum_and_reports_exceeding_its_maximum() -> None:
    minimum, maximum = rules.hold_seconds(D("30"), "min"), rules.hold_seconds(D("90"), "min")
    with pytest.raises(StateError, match="completing early is refused, wait 60 s more"):
        rules.check_hold_end(T0, T0 + dt.timedelta(minutes=29), minimum, maximum)
    assert rules.check_hold_end(T0, T0 + dt.timedelta(minutes=30), minimum, maximum) is True
    assert rules.check_hold_end(T0, T0 + dt.timedelta(minutes=91), minimum, maximum) is False
    with pytest.raises(ValidationError, match="not a time unit"):
        rules.hold_seconds(D("1"), "kg")


def test_lot_status_changes_follow_the_allowed_paths() -> None:
    assert rules.check_lot_transition("quarantine", "released") is rules.LotStatus.RELEASED
    with pytest.raises(ValidationError, match="a rejected lot cannot become released"):
        rules.check_lot_transition("rejected", "released")
    with pytest.raises(ValidationError, match="unknown lot status"):
        rules.check_lot_transition("quarantine", "fine")


@pytest.mark.requirement("URS-BAT-003")
def test_the_signatures_a_deviation_needs_grow_with_its_severity() -> None:
    assert rules.deviation_signatures("minor") == ("verified",)
    assert rules.deviation_signatures("major") == ("verified", "reviewed")
    assert rules.deviation_signatures("critical") == ("verified", "reviewed", "approved")


def test_a_numeric_entry_outside_its_limits_is_kept_and_opens_a_minor_deviation() -> None:
    params = DataEntry(kind=EntryKind.NUMERIC, prompt="pH", unit="pH", low=D("4.5"), high=D("5.5"))
    entry, deviation = check_value(params, "5.8")
    assert (entry.value, entry.in_limits) == ("5.8", False)
    assert deviation is not None
    assert (deviation.kind, deviation.severity) == (DeviationKind.OUT_OF_LIMIT, Severity.MINOR)
    assert check_value(params, "5.0")[1] is None


def test_choices_and_pass_fail_entries_accept_only_their_answers() -> None:
    choice = DataEntry(kind=EntryKind.CHOICE, prompt="Clear?", choices=("clear", "hazy"))
    assert check_value(choice, "hazy")[0].value == "hazy"
    with pytest.raises(ValidationError, match="'cloudy' is not one of: clear, hazy"):
        check_value(choice, "cloudy")
    verdict = DataEntry(kind=EntryKind.PASS_FAIL, prompt="Labelled")
    assert check_value(verdict, "fail")[1] is not None
    with pytest.raises(ValidationError, match="answer pass or fail"):
        check_value(verdict, "maybe")
