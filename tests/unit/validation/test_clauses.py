"""The shipped requirements serve every expected Part 11 and Annex 11 clause."""

from __future__ import annotations

import pytest

from validation.errors import RequirementsError
from validation.requirements import covers, load_clauses, load_requirements, uncovered_clauses

PART_11 = [f"21 CFR 11.10({c})" for c in "abcdefghijk"] + ["21 CFR 11.50", "21 CFR 11.70", "21 CFR 11.100"]
PART_11 += ["21 CFR 11.200(a)"] + [f"21 CFR 11.300({c})" for c in "abcde"]
ANNEX_11 = [f"EU GMP Annex 11 §{n}" for n in range(4, 18)]


@pytest.mark.requirement("URS-VAL-001")
def test_the_expected_clauses_are_exactly_part_11_and_annex_11_sections_4_to_17() -> None:
    assert list(load_clauses()) == PART_11 + ANNEX_11


@pytest.mark.requirement("URS-VAL-001")
def test_every_expected_clause_is_served_by_a_shipped_requirement() -> None:
    assert uncovered_clauses(load_clauses(), load_requirements()) == []


@pytest.mark.requirement("URS-VAL-001")
def test_every_shipped_requirement_has_text_risk_and_area() -> None:
    for req in load_requirements().values():
        assert req.text.strip(), req.id
        assert req.area.strip(), req.id
        assert req.risk in {"high", "medium", "low"}, req.id


def test_a_sub_clause_covers_its_parent_but_not_a_sibling_number() -> None:
    assert covers("21 CFR 11.50(a)", "21 CFR 11.50")
    assert covers("EU GMP Annex 11 §8.2", "EU GMP Annex 11 §8")
    assert covers("EU GMP Annex 11 §4", "EU GMP Annex 11 §4")
    assert not covers("EU GMP Annex 11 §17", "EU GMP Annex 11 §1")
    assert not covers("21 CFR 11.100(a)", "21 CFR 11.10")
    assert not covers("21 CFR 11.10(a)", "21 CFR 11.10(b)")


def test_a_requirement_missing_a_field_is_refused_with_what_is_missing() -> None:
    with pytest.raises(RequirementsError, match="lacks risk, area"):
        load_requirements("requirements:\n  - {id: A, text: t, clauses: [x]}\n")


def test_a_requirement_without_clauses_is_refused() -> None:
    with pytest.raises(RequirementsError, match="names no regulation clause"):
        load_requirements("requirements:\n  - {id: A, text: t, clauses: [], risk: low, area: a}\n")


def test_a_file_that_is_not_a_list_of_requirements_is_refused() -> None:
    with pytest.raises(RequirementsError, match="list under 'requirements'"):
        load_requirements("requirements: nope\n")
