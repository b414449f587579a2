"""Rendering the batch record as PDF/A-3b with ``record.json`` attached.

Two ways, same pages:

* :func:`render_whole`: one WeasyPrint layout of :func:`ebr.records.html.whole_document`
  (page numbers and contents counted by WeasyPrint). Fine for small records.
* :func:`render_parallel`: the body parts are laid out in worker processes (layout
  is the cost, and it is single-threaded), then joined with pikepdf behind the
  front part (cover and contents, rendered last with the page numbers the parts
  turned out to have, as PDF/A-3b with the attachment). The header and footer
  — batch id, print time, printer, "page x of y" — come from a small WeasyPrint
  overlay document of blank pages laid over every page (marked as a pagination
  artifact), and the bookmarks are rebuilt from the anchors each part reported.

Both are tagged (WeasyPrint ``pdf_tags``): the parallel path merges the parts'
structure trees into one (:mod:`ebr.records.tagged`).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import resource
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pikepdf
from weasyprint import HTML, Attachment

from ebr.records import html
from ebr.records.tagged import StructureJoin, prefix_ids

PARALLEL_FROM_PHASES = 150
ATTACHMENT = "record.json"
Progress = Callable[[str], None]


@dataclass
class RenderStats:
    """What a render did: pages, parts, the largest worker's peak memory (KiB)."""

    pages: int = 0
    parts: int = 0
    worker_peak_kib: list[int] = field(default_factory=list)
    worker_pids: list[int] = field(default_factory=list)
    worker_cpu_s: list[float] = field(default_factory=list)

    def worker_peak_kib_by_process(self) -> dict[int, int]:
        """Worker process id → its peak RSS (a pool reuses a process for several parts)."""
        peaks: dict[int, int] = {}
        for pid, peak in zip(self.worker_pids, self.worker_peak_kib, strict=True):
            peaks[pid] = max(peak, peaks.get(pid, 0))
        return peaks

    def worker_cpu_s_by_process(self) -> dict[int, float]:
        """Worker process id → CPU seconds it used (cumulative, so the largest report per process)."""
        used: dict[int, float] = {}
        for pid, cpu in zip(self.worker_pids, self.worker_cpu_s, strict=True):
            used[pid] = max(cpu, used.get(pid, 0.0))
        return used


def _attachment(record_json: bytes) -> Attachment:
    return Attachment(
        file_obj=io.BytesIO(record_json),
        name=ATTACHMENT,
        description="Machine-readable batch record (ebr-batch-record/1)",
        relationship="Data",
    )


def _pdfa(document: Any, record_json: bytes, *, tagged: bool = False) -> bytes:
    with warnings.catch_warnings():
        # WeasyPrint 70 opens its sRGB profile for the PDF/A output intent and never closes it.
        warnings.simplefilter("ignore", ResourceWarning)
        data: bytes = document.write_pdf(
            pdf_variant="pdf/a-3b", attachments=[_attachment(record_json)], pdf_tags=tagged
        )
    return data


def render_whole(record: dict[str, Any], record_json: bytes) -> bytes:
    """The record as one WeasyPrint layout (PDF/A-3b, ``record.json`` attached), tagged for screen readers.

    Tagged with WeasyPrint's ``pdf_tags`` (a structure tree: headings, tables, lists).
    """
    return _pdfa(HTML(string=html.whole_document(record)).render(), record_json, tagged=True)


Rendered = tuple[bytes, int, dict[str, int], tuple[int, int, float]]


def _render_part(document: str, number: int) -> Rendered:
    """Worker: lay out part ``number``, tagged; its PDF, page count, anchor → page index, (pid, peak RSS KiB, CPU s).

    The part's element ids get the prefix ``p<number>-`` here, in parallel, so they stay unique when joined.
    """
    rendered = HTML(string=document).render()
    anchors: dict[str, int] = {}
    for index, page in enumerate(rendered.pages):
        for name in page.anchors:
            anchors.setdefault(name, index)
    with pikepdf.open(io.BytesIO(rendered.write_pdf(pdf_tags=True))) as tagged:
        prefix_ids(tagged, f"p{number}-")
        out = io.BytesIO()
        tagged.save(out)
    pdf = out.getvalue()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return pdf, len(rendered.pages), anchors, (os.getpid(), usage.ru_maxrss, usage.ru_utime + usage.ru_stime)


def _pool(workers: int) -> ProcessPoolExecutor:
    # forkserver: workers do not inherit the caller's threads, engines or sockets (a web worker,
    # the CLI's database connections); the server imports WeasyPrint once for all of them.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["weasyprint", "ebr.records.pdf"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _front(layout: html.Layout, record: dict[str, Any], record_json: bytes, offsets: dict[str, int]) -> bytes:
    """Cover and contents as PDF/A-3b; re-laid out until its own page count matches the guess."""
    guess = 2
    for _ in range(5):
        pages = {anchor: page + guess for anchor, page in offsets.items()}
        rendered = HTML(string=html.document(html.front(layout, pages), record, numbered=False, margin_text=False))
        document = rendered.render()
        if len(document.pages) == guess:
            return _pdfa(document, record_json, tagged=True)
        guess = len(document.pages)
    raise RuntimeError("the contents did not settle on a page count")  # pragma: no cover - needs a pathological record


def _overlay(record: dict[str, Any], count: int) -> pikepdf.Pdf:
    """Blank pages with the header and footer (untagged: laid over the pages as an artifact)."""
    body = html.environment().get_template("overlay.html").render(count=count)
    data = HTML(string=html.document(body, record, numbered=True)).write_pdf()
    return pikepdf.open(io.BytesIO(data))


def _stamp(pdf: pikepdf.Pdf, page: pikepdf.Page, overlay: pikepdf.Page) -> None:
    """Lay ``overlay`` over ``page`` inside ``/Artifact`` marked content (pagination, not part of the structure)."""
    form = pdf.copy_foreign(overlay.as_form_xobject())
    name = page.add_resource(form, pikepdf.Name.XObject)
    placed = page.calc_form_xobject_placement(form, name, pikepdf.Rectangle(page.mediabox))
    page.contents_add(b"q\n", prepend=True)
    page.contents_add(b"Q\n/Artifact <</Type /Pagination>> BDC\n" + bytes(placed) + b"\nEMC\n")
    page.contents_coalesce()


def _outline(pdf: pikepdf.Pdf, toc: list[html.TocEntry], pages: dict[str, int]) -> None:
    with pdf.open_outline() as outline:
        outline.root.clear()
        parent: pikepdf.OutlineItem | None = None
        for entry in toc:
            if entry.anchor not in pages:
                continue
            item = pikepdf.OutlineItem(entry.title, pages[entry.anchor] - 1)
            if entry.level == 1 or parent is None:
                outline.root.append(item)
                parent = item
            else:
                parent.children.append(item)


def _lay_out(documents: list[str], workers: int, progress: Progress | None) -> list[Rendered]:
    """Every part laid out in the pool, largest first (the last part to start should be a short one)."""
    results: dict[int, Rendered] = {}
    with _pool(min(workers, len(documents))) as pool:
        order = sorted(range(len(documents)), key=lambda i: -len(documents[i]))
        futures = {pool.submit(_render_part, documents[i], i): i for i in order}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(f"laid out part {done} of {len(documents)}")
    return [results[i] for i in range(len(documents))]


def render_parallel(
    record: dict[str, Any],
    record_json: bytes,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    stats: RenderStats | None = None,
) -> bytes:
    """The record laid out part by part in worker processes and joined (PDF/A-3b, attachment, page x of y)."""
    stats = stats if stats is not None else RenderStats()
    layout = html.compose(record)
    documents = [html.document(part, record, numbered=False, margin_text=False) for part in layout.parts]
    results = _lay_out(documents, workers or default_workers(), progress)
    offsets: dict[str, int] = {}
    start = 1
    for _pdf, count, anchors, (pid, peak, cpu) in results:
        for name, index in anchors.items():
            offsets.setdefault(name, start + index)
        start += count
        stats.worker_pids.append(pid)
        stats.worker_peak_kib.append(peak)
        stats.worker_cpu_s.append(cpu)
    front = _front(layout, record, record_json, offsets)
    with ExitStack() as opened:
        merged = opened.enter_context(pikepdf.open(io.BytesIO(front)))
        front_pages = len(merged.pages)
        prefix_ids(merged, "f-")
        structure = StructureJoin(merged)
        for pdf, _count, _anchors, _peak in results:
            structure.append(opened.enter_context(pikepdf.open(io.BytesIO(pdf))))
        structure.finish()
        overlay = opened.enter_context(_overlay(record, len(merged.pages)))
        for index, page in enumerate(merged.pages):
            _stamp(merged, page, overlay.pages[index])
        _outline(merged, layout.toc, {k: v + front_pages for k, v in offsets.items()})
        if progress is not None:
            progress(f"joined {len(merged.pages)} pages")
        out = io.BytesIO()
        merged.save(out)
        stats.pages, stats.parts = len(merged.pages), len(documents)
    return out.getvalue()


def phase_count(record: dict[str, Any]) -> int:
    return sum(1 for s in record["steps"] if s["level"] == "phase")


def render_pdf(
    record: dict[str, Any],
    record_json: bytes,
    *,
    parallel: bool | None = None,
    progress: Progress | None = None,
    stats: RenderStats | None = None,
) -> bytes:
    """The batch record PDF; large records (or ``parallel=True``) are laid out in parallel."""
    if parallel is None:
        parallel = phase_count(record) >= PARALLEL_FROM_PHASES
    if parallel:
        return render_parallel(record, record_json, progress=progress, stats=stats)
    data = render_whole(record, record_json)
    if stats is not None:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            stats.pages, stats.parts = len(pdf.pages), 1
    return data
