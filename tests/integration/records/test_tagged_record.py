"""A record laid out in parallel is one tagged PDF, with the structure the whole layout has.

A generated record (no database) forced through ``render_pdf(parallel=True)``; the
structure is read back with pikepdf (:func:`check_tagged`) and with poppler's
``pdfinfo -struct-text`` (what an assistive tool reads), and compared with the same
record laid out whole.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from benchmarks.record_pdf import synthetic_record
from ebr.records import html, pdf
from tests.integration.records.support import attachment, pdf_text, pdfa_part, tool
from tests.support.tagged_pdf import check_tagged, headings, structure_text

PHASES = 70  # two step parts (cut at the operation after 60 phases), four sections, one audit part


@dataclass
class Rendered:
    record: dict[str, Any]
    data: bytes
    parallel: Path
    whole: Path
    stats: pdf.RenderStats


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    folder = tmp_path_factory.mktemp("tagged")
    record = synthetic_record(PHASES)
    data = json.dumps(record).encode()
    stats = pdf.RenderStats()
    parallel, whole = folder / "parallel.pdf", folder / "whole.pdf"
    parallel.write_bytes(pdf.render_pdf(record, data, parallel=True, stats=stats))
    whole.write_bytes(pdf.render_pdf(record, data, parallel=False))
    return Rendered(record, data, parallel, whole, stats)


def struct(path: Path) -> list[str]:
    """``pdfinfo -struct``: the element tree as poppler reads it (ids removed: parts prefix theirs)."""
    out = subprocess.run([tool("pdfinfo"), "-struct", str(path)], capture_output=True, check=True, text=True).stdout
    return [re.sub(r" <[^>]*>|\((?:f-|p\d+-)?[\d-]+\)", "", line) for line in out.splitlines()]


def body(lines: list[str]) -> list[str]:
    """The element tree after the front (cover and contents differ: links there, page numbers here)."""
    starts = [i for i, line in enumerate(lines) if line.strip() == "H1 (block)"]
    return lines[starts[2] :]  # cover, contents, then Steps


def texts(path: Path) -> list[tuple[int, str, str]]:
    with pikepdf.open(path) as document:
        return structure_text(document)


@pytest.mark.requirement("URS-REC-030")
def test_a_record_laid_out_in_parallel_is_one_structure_tree_reaching_all_its_content(rendered: Rendered) -> None:
    assert rendered.stats.parts == 7, "forced through the parallel path, in parts"
    with pikepdf.open(rendered.parallel) as document:
        found = check_tagged(document)
        assert found.pages == rendered.stats.pages
        assert found.mcids > 1000, "the text is marked content, not artifacts"
        tables = {tag: found.tags.count(tag) for tag in ("/Table", "/TR", "/TH", "/TD")}
        assert tables["/Table"] >= PHASES, "a table of values per phase"
        assert tables["/TH"] >= 7 * PHASES, "with its header cells"
        assert tables["/TD"] >= 7 * PHASES
        assert len(found.tops) >= rendered.stats.parts + 2, "the Document's kids: cover, contents, each part's"


@pytest.mark.requirement("URS-REC-030")
def test_the_parallel_pdf_has_the_headings_tables_and_reading_order_of_the_whole_layout(rendered: Rendered) -> None:
    parallel, whole = texts(rendered.parallel), texts(rendered.whole)
    ordered = headings(parallel)
    assert ordered == headings(whole), "the same headings, in the same order"
    levels = [level for level, _text in ordered]
    assert levels[:3] == ["H1", "H1", "H1"], "cover, contents, steps"
    assert levels.count("H3") == PHASES // 10, "an H3 per operation"
    assert body(struct(rendered.parallel)) == body(struct(rendered.whole)), (
        "every element after the front, tables (Table/TR/TH/TD) and lists included, as the whole layout has it"
    )
    first = [i for i, (_d, tag, _text) in enumerate(parallel) if tag == "H1"][2]  # after cover and contents
    same = [i for i, (_d, tag, _text) in enumerate(whole) if tag == "H1"][2]
    assert [text for _d, _t, text in parallel[first:]] == [text for _d, _t, text in whole[same:]], "the same text"
    words = " ".join(text for _d, _t, text in parallel)
    titles = [s["name"] for s in rendered.record["steps"] if s["level"] == "phase"]
    at = [words.find(f"{title} ") for title in titles]
    assert -1 not in at, "every step title is in the tagged structure"
    assert at == sorted(at), "in the order of the record"


@pytest.mark.requirement("URS-REC-030", "URS-QA-002", "URS-QA-003")
def test_the_header_and_footer_are_artifacts_and_pdfa_attachment_pages_and_bookmarks_hold(rendered: Rendered) -> None:
    data = rendered.parallel.read_bytes()
    assert pdfa_part(data) == ("3", "B", True)
    assert attachment(data) == rendered.data
    pages = rendered.stats.pages
    structure = " ".join(text for _d, _t, text in texts(rendered.parallel))
    assert "Page 1 of" not in structure, "the footer is not read as content"
    assert "Printed " not in structure
    for page in range(1, pages + 1):
        assert f"Page {page} of {pages}" in pdf_text(rendered.parallel, first=page, last=page)
    toc = [e for e in html.compose(rendered.record).toc if e.level == 1]
    with pikepdf.open(io.BytesIO(data)) as document, document.open_outline() as outline:
        index = {page.obj.objgen: number for number, page in enumerate(document.pages, start=1)}
        marks = []
        for item in outline.root:
            assert isinstance(item.destination, pikepdf.Array), "a bookmark points at a page"
            marks.append((item.title, index[item.destination[0].objgen]))
    assert [title for title, _page in marks] == [e.title for e in toc]
    for title, page in marks:
        heading = "Materials consumed" if title == "Materials and equipment" else title
        assert heading in pdf_text(rendered.parallel, first=page, last=page), f"bookmark {title} → page {page}"
