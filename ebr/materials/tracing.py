"""A trace for a recall: the links between lots and batches found by the genealogy,
drawn as a graph (Graphviz ``dot`` → SVG, server-side), listed as a table, and printed
as a PDF that QA hands to the recall team.

A link is ``source lot → batch → target lot`` with the quantity of the source the
batch consumed; a batch without an output lot yet has no target.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import graphviz
from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.core.errors import NotFound
from ebr.execution.models import Batch
from ebr.materials import genealogy
from ebr.materials.genealogy import NO_OUTPUT, TraceNode
from ebr.materials.models import Lot

MAX_DRAWN_NODES = 400
"""Beyond this the picture is unreadable (and dot slow): the page shows the table only."""
STATUS_COLOURS = {"released": "#d9f2d9", "quarantine": "#fff2cc", "rejected": "#f4cccc", "expired": "#e0e0e0"}


@dataclass(frozen=True)
class Link:
    direction: str  # "backward" (made from) or "forward" (went into)
    source: str
    batch: str
    target: str | None
    quantity: Decimal | None
    unit: str | None

    def as_json(self) -> dict[str, Any]:
        qty = None if self.quantity is None else format(self.quantity, "f")
        return {
            "direction": self.direction,
            "source": self.source,
            "batch": self.batch,
            "target": self.target,
            "quantity": qty,
            "unit": self.unit,
        }


@dataclass
class Trace:
    """What a trace found: the lots (material, status) and the links through batches."""

    kind: str  # "lot" or "batch"
    subject: str
    lots: dict[str, tuple[str, str]] = field(default_factory=dict)
    batches: set[str] = field(default_factory=set)
    links: list[Link] = field(default_factory=list)

    def _walk(self, node: TraceNode, direction: str) -> None:
        self.lots.setdefault(node.lot, (node.material, node.status))
        for child in node.children:
            assert child.batch is not None
            self.batches.add(child.batch)
            if direction == "forward":
                target = None if child.lot == NO_OUTPUT else child.lot
                self.links.append(Link("forward", node.lot, child.batch, target, child.quantity, child.unit))
                if target is not None:
                    self._walk(child, direction)
            else:
                self.links.append(Link("backward", child.lot, child.batch, node.lot, child.quantity, child.unit))
                self._walk(child, direction)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "lots": {k: {"material": m, "status": s} for k, (m, s) in sorted(self.lots.items())},
            "batches": sorted(self.batches),
            "links": [link.as_json() for link in self.links],
        }

    @property
    def size(self) -> int:
        return len(self.lots) + len(self.batches)


def of_lot(session: Session, lot_number: str) -> Trace:
    """Backward and forward trace of a lot; raises NotFound."""
    trace = Trace("lot", lot_number)
    trace._walk(genealogy.backward(session, lot_number), "backward")
    trace._walk(genealogy.forward(session, lot_number), "forward")
    return trace


def of_batch(session: Session, number: str) -> Trace:
    """The lots a batch consumed (and where they came from) and where its output went."""
    batch = session.scalars(select(Batch).where(Batch.number == number)).first()
    if batch is None:
        raise NotFound(f"no batch {number!r}; check the batch number")
    trace = Trace("batch", number)
    trace.batches.add(number)
    data = genealogy.batch_genealogy(session, batch)
    outputs = data["outputs"] or [None]
    for item in data["inputs"]:
        trace._walk(genealogy.backward(session, item["lot"]), "backward")
        for out in outputs:
            qty = Decimal(item["quantity"])
            trace.links.append(Link("forward", item["lot"], number, out, qty, item["unit"]))
    for out in data["outputs"]:
        trace._walk(genealogy.forward(session, out), "forward")
        lot = session.scalars(select(Lot).where(Lot.lot_number == out)).one()
        trace.lots.setdefault(out, (lot.material_code, lot.status))
    return trace


def svg(trace: Trace) -> str:
    """The trace drawn left to right (raw materials → products) as SVG by Graphviz ``dot``."""
    dot = graphviz.Digraph("trace", graph_attr={"rankdir": "LR", "fontname": "DejaVu Sans", "nodesep": "0.25"})
    dot.attr("node", fontname="DejaVu Sans", fontsize="11")
    # Plain generated node ids: a ":" in a name would be read by dot as a port.
    ids: dict[tuple[str, str], str] = {}

    def _id(kind: str, name: str) -> str:
        return ids.setdefault((kind, name), f"n{len(ids)}")

    for lot, (material, status) in sorted(trace.lots.items()):
        colour = STATUS_COLOURS.get(status, "#ffffff")
        pen = "3" if trace.kind == "lot" and lot == trace.subject else "1"
        label = f"{lot}\n{material}\n{status}"
        dot.node(_id("lot", lot), label, shape="box", style="filled", fillcolor=colour, penwidth=pen)
    for batch in sorted(trace.batches):
        pen = "3" if trace.kind == "batch" and batch == trace.subject else "1"
        dot.node(_id("batch", batch), f"batch {batch}", shape="ellipse", penwidth=pen)
    seen: set[tuple[str, str]] = set()
    for link in trace.links:
        qty = "" if link.quantity is None else f"{link.quantity} {link.unit or ''}".strip()
        edges = [(_id("lot", link.source), _id("batch", link.batch), qty)]
        if link.target is not None:
            edges.append((_id("batch", link.batch), _id("lot", link.target), ""))
        for tail, head, label in edges:
            if (tail, head) not in seen:
                seen.add((tail, head))
                dot.edge(tail, head, label=label, fontsize="9")
    drawn: bytes = dot.pipe(format="svg")
    return drawn.decode("utf-8")


def rows(trace: Trace) -> list[dict[str, Any]]:
    """The table of the trace: one row per link, with the materials and statuses of both lots."""
    out = []
    for link in trace.links:
        source = trace.lots.get(link.source, ("-", "-"))
        target = trace.lots.get(link.target or "", ("-", "-"))
        out.append(
            link.as_json()
            | {
                "source_material": source[0],
                "source_status": source[1],
                "target_material": target[0] if link.target else "-",
                "target_status": target[1] if link.target else "-",
            }
        )
    return out


PDF_CSS = """
@page { size: A4 landscape; margin: 12mm; @bottom-right { content: "page " counter(page) " of " counter(pages); } }
body { font-family: 'DejaVu Sans', sans-serif; font-size: 9pt; }
h1 { font-size: 14pt; }
img { max-width: 100%; max-height: 150mm; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 0.3mm solid #888; padding: 1mm 2mm; text-align: left; }
"""


def pdf(trace: Trace, *, printed_by: str, printed_at: dt.datetime) -> bytes:
    """The trace for a recall as PDF: who printed it and when, the graph, the table."""
    from weasyprint import HTML  # weasyprint is heavy: only printing loads it

    e = html.escape
    picture = ""
    if trace.size <= MAX_DRAWN_NODES:
        data = base64.b64encode(svg(trace).encode("utf-8")).decode("ascii")
        picture = f'<img src="data:image/svg+xml;base64,{data}" alt="trace graph">'
    header = "<tr><th>Direction</th><th>Source lot</th><th>Material</th><th>Batch</th><th>Target lot</th>"
    header += "<th>Material</th><th>Status</th><th>Quantity</th></tr>"
    body = "".join(
        f"<tr><td>{e(r['direction'])}</td><td>{e(r['source'])}</td><td>{e(r['source_material'])}</td>"
        f"<td>{e(r['batch'])}</td><td>{e(r['target'] or '(no output lot yet)')}</td>"
        f"<td>{e(r['target_material'])}</td><td>{e(r['target_status'])}</td>"
        f"<td>{e((r['quantity'] or '') + ' ' + (r['unit'] or ''))}</td></tr>"
        for r in rows(trace)
    )
    document = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{PDF_CSS}</style></head><body>'
        f"<h1>Genealogy trace of {e(trace.kind)} {e(trace.subject)}</h1>"
        f"<p>Printed by {e(printed_by)} at {e(printed_at.isoformat(timespec='seconds'))}. "
        f"{len(trace.lots)} lots, {len(trace.batches)} batches, {len(trace.links)} links.</p>"
        f"{picture}<table>{header}{body}</table></body></html>"
    )
    printed: bytes = HTML(string=document).write_pdf()
    return printed
