"""Batch record PDF: a generated 1,000-step batch, our renderer beside bare WeasyPrint.

Each side runs in its own fresh process so its peak memory is its own:

* ``parallel``: :func:`ebr.records.pdf.render_parallel` — parts laid out in worker
  processes, joined with pikepdf, header/footer stamped from an overlay, PDF/A-3b
  with record.json attached. Peak memory = the parent's peak plus each worker
  process's peak (an upper bound: the workers' peaks need not coincide).
* ``bare``: ``HTML(string=whole_document(record)).write_pdf()`` — WeasyPrint alone
  on the same final HTML, in one process (no PDF/A, no attachment, untagged).
* ``bare-tagged`` (with ``--tagged-baseline``): the same with ``pdf_tags=True``, for
  what tagging costs WeasyPrint itself (ours is tagged, parts merged into one tree).

Run: ``.venv/bin/python -m benchmarks.record_pdf [--phases 1000] [--tagged-baseline]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.table import Row, print_table
from ebr.core.canonical import jsonable
from signatures.manifest import manifestation

PEOPLE = {"olga": "Olga Operator", "sam": "Sam Supervisor", "quinn": "Quinn QA"}
START = dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.UTC)


def _signature(sid: str, who: str, meaning: str, at: dt.datetime, path: str) -> dict[str, Any]:
    return {
        "id": sid, "signer": who, "printed_name": PEOPLE[who], "meaning": meaning, "ts": at,
        "subject": {"type": "batch_step", "id": f"B-BENCH/{path}"}, "reason": None, "content_hash": "ab" * 32,
        "key_id": "cd" * 32, "manifestation": manifestation(PEOPLE[who], at, meaning, "Europe/Berlin"),
    }  # fmt: skip


Events = list[dict[str, Any]]


def _phase(index: int, path: str, at: dt.datetime, sigs: dict[str, Any], events: Events) -> dict[str, Any]:
    value = f"{20 + index % 10}.{index % 7}"
    entry = {"id": f"E{index}", "name": "value", "value": value, "unit": "°C", "in_limits": True, "source": "manual",
             "recorded_at": at, "recorded_by": "olga", "corrects": None, "correction_reason": None,
             "superseded_at": None, "corrected_by": None}  # fmt: skip
    meanings = ("performed", "verified") if index % 5 == 0 else ("performed",)
    ids = []
    for meaning in meanings:
        sid = f"S{index}-{meaning}"
        sigs[sid] = _signature(sid, "olga" if meaning == "performed" else "sam", meaning, at, path)
        ids.append(sid)
    entity = {"type": "batch_step", "id": f"B-BENCH/{path}"}
    for action, after in (("batch.step.completed", {"state": "Complete", "value": value}),
                          ("signature.applied", {"id": ids[0], "meaning": "performed", "printed_name": "Olga Operator",
                                                 "signer": "olga"})):  # fmt: skip
        events.append({"seq": len(events) + 1, "ts": at, "actor": "olga", "action": action, "entity": entity,
                       "reason": None, "before": {"state": "Running"}, "after": after})  # fmt: skip
    return {
        "path": path, "level": "phase", "name": f"Temperature check {index}", "type": "data_entry", "unit": "R-101",
        "state": "Complete", "instruction": "Read the jacket temperature on TI-101 and enter it.",
        "parameters": {"kind": "numeric", "prompt": "Jacket temperature", "unit": "°C", "target": "25", "low": "15",
                       "high": "30"},
        "required_signatures": list(meanings), "started_at": at, "started_by": "olga",
        "ended_at": at + dt.timedelta(minutes=1), "ended_by": "olga", "entries": [entry], "signatures": ids,
    }  # fmt: skip


def _element(path: str, level: str, name: str, at: dt.datetime) -> dict[str, Any]:
    return {"path": path, "level": level, "name": name, "type": None, "unit": "R-101", "state": "Complete",
            "instruction": "", "parameters": {}, "required_signatures": [], "started_at": at, "started_by": None,
            "ended_at": at, "ended_by": None, "entries": [], "signatures": []}  # fmt: skip


def synthetic_record(phases: int = 1000) -> dict[str, Any]:
    """record.json of a generated batch of ``phases`` data-entry phases (10 per operation, 10 operations per UP)."""
    steps: list[dict[str, Any]] = []
    sigs: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    for index in range(phases):
        up, op, ph = index // 100 + 1, index // 10 % 10 + 1, index % 10 + 1
        at = START + dt.timedelta(minutes=2 * index)
        if index % 100 == 0:
            steps.append(_element(f"UP{up}", "unit_procedure", f"Unit procedure {up}", at))
        if index % 10 == 0:
            steps.append(_element(f"UP{up}.OP{op}", "operation", f"Operation {up}.{op}", at))
        steps.append(_phase(index, f"UP{up}.OP{op}.PH{ph}", at, sigs, events))
    record = {
        "format": "ebr-batch-record/1",
        "batch": {"id": "bench", "number": "B-BENCH", "order": "PO-BENCH", "size": "1000", "unit": "L",
                  "status": "complete", "state": "Complete", "created_at": START, "created_by": "sam",
                  "started_at": START, "ended_at": START + dt.timedelta(hours=40), "output_lot": None},
        "recipe": {"name": "BENCH", "version": "1", "title": "Generated recipe", "control_recipe_hash": "ef" * 32},
        "product": {"code": "FG-BENCH", "name": "Benchmark product"},
        "printed": {"at": START + dt.timedelta(days=2), "by": "quinn", "by_name": "Quinn QA",
                    "timezone": "Europe/Berlin"},
        "people": PEOPLE, "steps": steps, "deviations": [], "corrections": [], "materials": [], "output_lot": None,
        "equipment": [], "trends": [], "review": [], "signatures": sigs, "signed_content": {},
        "audit_trail": {"to_seq": len(events), "events": events},
    }  # fmt: skip
    result: dict[str, Any] = jsonable(record)
    return result


def _child(mode: str, record_file: Path, out: Path) -> None:
    from weasyprint import HTML

    from ebr.records import html, pdf

    record = json.loads(record_file.read_bytes())
    started = time.perf_counter()
    workers_kib, workers_cpu = 0, 0.0
    if mode in ("bare", "bare-tagged"):
        data = HTML(string=html.whole_document(record)).write_pdf(pdf_tags=mode == "bare-tagged")
        pages = data.count(b"/Type /Page\n") or data.count(b"/Type /Page")
    else:
        stats = pdf.RenderStats()
        data = pdf.render_parallel(record, record_file.read_bytes(), stats=stats)
        pages = stats.pages
        workers_kib = sum(stats.worker_peak_kib_by_process().values())
        workers_cpu = sum(stats.worker_cpu_s_by_process().values())
    seconds = time.perf_counter() - started
    out.write_bytes(data)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak, cpu = usage.ru_maxrss + workers_kib, usage.ru_utime + usage.ru_stime + workers_cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_kib": peak, "pages": pages, "bytes": len(data)}))


def _run(mode: str, record_file: Path, folder: Path) -> dict[str, Any]:
    out = folder / f"{mode}.pdf"
    command = [sys.executable, "-m", "benchmarks.record_pdf", "--child", mode, "--record", str(record_file),
               "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _pages(path: Path) -> int:
    import pikepdf

    with pikepdf.open(path) as document:
        return len(document.pages)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phases", type=int, default=1000)
    parser.add_argument("--child", choices=("bare", "bare-tagged", "parallel"))
    parser.add_argument("--tagged-baseline", action="store_true", help="also time bare WeasyPrint with pdf_tags")
    parser.add_argument("--record", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.record, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="ebr-bench-record-") as tmp:
        folder = Path(tmp)
        record_file = folder / "record.json"
        record_file.write_text(json.dumps(synthetic_record(args.phases)), encoding="utf-8")
        bare = _run("bare", record_file, folder)
        ours = _run("parallel", record_file, folder)
        tagged = _run("bare-tagged", record_file, folder) if args.tagged_baseline else None
        pages_bare, pages_ours = _pages(folder / "bare.pdf"), _pages(folder / "parallel.pdf")
    print(f"{args.phases} phases; pages: ours {pages_ours}, bare {pages_bare}; cores {os.cpu_count()}")
    rows = [
        Row("render time (s)", ours["seconds"], bare["seconds"], "s", "ratio ≤ 1.0"),
        Row("CPU time, all processes (s)", ours["cpu"], bare["cpu"], "s", "(cost)"),
        Row("peak memory, all processes (MiB)", ours["peak_kib"] / 1024, bare["peak_kib"] / 1024, "MiB", "ratio ≤ 1.0"),
    ]
    if tagged is not None:
        rows.append(Row("render time, bare WeasyPrint tagged (s)", tagged["seconds"], bare["seconds"], "s", "(cost)"))
        rows.append(Row("CPU time, bare WeasyPrint tagged (s)", tagged["cpu"], bare["cpu"], "s", "(cost)"))
    print_table(f"Batch record PDF, {pages_ours} pages", rows, baseline_name="bare WeasyPrint")


if __name__ == "__main__":
    main()
