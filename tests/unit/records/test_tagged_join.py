"""Joining tagged parts (ebr.records.tagged): any split of the steps, joined, keeps each part's structure in order."""

from __future__ import annotations

import io
import itertools
import json
from functools import cache
from typing import Any

import pikepdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pikepdf import Name
from weasyprint import HTML

from benchmarks.record_pdf import synthetic_record
from ebr.records import html, pdf
from ebr.records.tagged import StructureJoin, prefix_ids
from tests.support.tagged_pdf import check_tagged, shape

RECORD = synthetic_record(4)
STEPS = RECORD["steps"]  # a unit procedure, an operation, four phases


@cache
def front() -> bytes:
    return pdf._front(html.compose(RECORD), RECORD, json.dumps(RECORD).encode(), {})


@cache
def part(start: int, end: int, number: int) -> bytes:
    """Steps ``start:end`` laid out as part ``number``, as a worker does it (tagged, ids prefixed ``p<number>-``)."""
    body = html._render("steps.html", RECORD, steps=STEPS[start:end], first=start == 0)
    document = html.document(body, RECORD, numbered=False, margin_text=False)  # as render_parallel lays parts out
    data, _pages, _anchors, _usage = pdf._render_part(document, number)
    return data


def tops(data: bytes) -> list[Any]:
    """The shapes of the Document element's kids, as WeasyPrint wrote them."""
    with pikepdf.open(io.BytesIO(data)) as document:
        return [shape(kid) for kid in document.Root.StructTreeRoot.K[0].K]


def join(*parts: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(front())) as merged:
        prefix_ids(merged, "f-")  # as render_parallel does
        structure = StructureJoin(merged)
        for data in parts:
            with pikepdf.open(io.BytesIO(data)) as opened:
                structure.append(opened)
        structure.finish()
        out = io.BytesIO()
        merged.save(out)
    return out.getvalue()


@st.composite
def splits(draw: st.DrawFn) -> list[tuple[int, int]]:
    cuts = draw(st.sets(st.integers(1, len(STEPS) - 1), max_size=3))
    bounds = [0, *sorted(cuts), len(STEPS)]
    return list(itertools.pairwise(bounds))


@pytest.mark.requirement("URS-REC-030")
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split=splits())
def test_any_split_of_the_steps_joined_has_each_parts_structure_in_order(split: list[tuple[int, int]]) -> None:
    parts = [part(start, end, start) for start, end in split]  # numbered by their first step: unique in a split
    joined = join(*parts)
    with pikepdf.open(io.BytesIO(joined)) as document:
        found = check_tagged(document)  # one tree, every MCID reachable, keys unique, pages inside
    expected = tops(front()) + [top for data in parts for top in tops(data)]
    assert found.tops == expected
    with pikepdf.open(io.BytesIO(front())) as alone:
        pages = len(alone.pages)
    for data in parts:
        with pikepdf.open(io.BytesIO(data)) as alone:
            pages += len(alone.pages)
    assert found.pages == pages


def _pages(data: bytes) -> int:
    with pikepdf.open(io.BytesIO(data)) as document:
        return len(document.pages)


def test_an_untagged_part_is_refused_and_nothing_is_appended() -> None:
    untagged = HTML(string=html.document("<p>no tags</p>", RECORD, numbered=False)).write_pdf()
    with pikepdf.open(io.BytesIO(front())) as merged, pikepdf.open(io.BytesIO(untagged)) as opened:
        structure = StructureJoin(merged)
        before = len(merged.pages)
        with pytest.raises(ValueError, match=r"not tagged .* pdf_tags=True"):
            structure.append(opened)
        assert len(merged.pages) == before


def test_a_part_whose_element_ids_clash_with_an_earlier_part_is_refused_before_anything_is_appended() -> None:
    same = part(2, len(STEPS), 1)  # a table with header ids, prefixed p1-
    with pikepdf.open(io.BytesIO(front())) as merged:
        structure = StructureJoin(merged)
        with pikepdf.open(io.BytesIO(same)) as opened:
            structure.append(opened)
        before = len(merged.pages)
        with pikepdf.open(io.BytesIO(same)) as opened, pytest.raises(ValueError, match=r"'p1-.*' is in two parts"):
            structure.append(opened)
        assert len(merged.pages) == before


def test_role_maps_are_merged_and_a_role_mapped_two_ways_is_refused() -> None:
    def with_roles(roles: dict[str, str], number: int) -> bytes:
        with pikepdf.open(io.BytesIO(part(2, 4, number))) as document:
            document.Root.StructTreeRoot.RoleMap = pikepdf.Dictionary(
                {f"/{k}": Name(f"/{v}") for k, v in roles.items()}
            )
            out = io.BytesIO()
            document.save(out)
        return out.getvalue()

    with pikepdf.open(io.BytesIO(front())) as merged:
        structure = StructureJoin(merged)
        for data in (with_roles({"Phase": "Sect"}, 1), with_roles({"Phase": "Sect", "Value": "P"}, 2)):
            with pikepdf.open(io.BytesIO(data)) as opened:
                structure.append(opened)
        assert dict(merged.Root.StructTreeRoot.RoleMap.items()) == {"/Phase": Name.Sect, "/Value": Name.P}
        with (
            pikepdf.open(io.BytesIO(with_roles({"Phase": "Div"}, 3))) as opened,
            pytest.raises(ValueError, match="role"),
        ):
            structure.append(opened)
