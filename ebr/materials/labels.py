"""Container labels: a PDF of one 100 × 70 mm label per container (for a label roll or a
sheet printer), each with a Code128 barcode (python-barcode) and a QR code (segno) of the
container's barcode; and ZPL II text for Zebra-compatible label printers.

The barcode's value is also printed as text under it, so the PDF's text layer carries
the code (checked by the tests and readable by a person when the scanner fails).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import barcode
import segno
from barcode.writer import ImageWriter


@dataclass(frozen=True)
class Label:
    """What one container label shows."""

    barcode: str
    material_code: str
    material_name: str
    lot_number: str
    supplier_lot: str | None
    quantity: Decimal
    unit: str
    status: str
    expires_on: dt.date
    retest_on: dt.date | None
    storage: str
    text: str
    index: int
    count: int


BAR_OPTIONS = {"module_height": 12.0, "module_width": 0.3, "write_text": False, "quiet_zone": 2.0, "dpi": 300}


def code128_png(value: str) -> bytes:
    """The Code128 symbol of ``value`` as a 300 dpi PNG (no human-readable text: the label prints it).

    PNG, not SVG: weasyprint draws a bitmap at once where an SVG symbol of ~100 bars
    costs it tens of milliseconds per label (200 labels: 16 s against 1 s).
    """
    out = io.BytesIO()
    barcode.get("code128", value, writer=ImageWriter()).write(out, BAR_OPTIONS)
    return out.getvalue()


def qr_png(value: str) -> bytes:
    """The QR code of ``value`` as a PNG."""
    out = io.BytesIO()
    segno.make(value, error="m").save(out, kind="png", scale=6, border=1)
    return out.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


CSS = """
@page { size: 100mm 70mm; margin: 3mm; }
body { font-family: 'DejaVu Sans', sans-serif; font-size: 8.5pt; margin: 0; }
section { break-after: page; line-height: 1.35; }
.status { float: right; font-weight: bold; border: 0.4mm solid #000; padding: 0 2mm; }
.qr { float: right; clear: right; width: 19mm; height: 19mm; }
.bar { display: block; width: 70mm; height: 13mm; margin: 1mm auto 0 auto; }
.code { display: block; text-align: center; font-size: 10pt; font-weight: bold; }
"""


def _label_html(label: Label) -> str:
    # Few boxes on purpose: weasyprint's time grows with the boxes laid out, and a
    # receipt prints hundreds of labels (benchmarks/materials_receipt.py).
    e = html.escape
    retest = label.retest_on.isoformat() if label.retest_on else "-"
    lines = "<br>".join(
        e(text)
        for text in (
            f"Lot {label.lot_number}   Supplier lot {label.supplier_lot or '-'}",
            f"Quantity {label.quantity} {label.unit}",
            f"Expiry {label.expires_on.isoformat()}   Retest {retest}",
            f"Storage {label.storage or '-'}",
            f"{label.text} Container {label.index} of {label.count}.".strip(),
        )
    )
    return (
        f'<section><b class="status">{e(label.status.upper())}</b>'
        f'<img class="qr" src="{_data_uri(qr_png(label.barcode))}" alt="">'
        f"<b>{e(label.material_code)} {e(label.material_name)}</b><br>{lines}"
        f'<img class="bar" src="{_data_uri(code128_png(label.barcode))}" alt="">'
        f'<span class="code">{e(label.barcode)}</span></section>'
    )


def labels_html(labels: Sequence[Label]) -> str:
    """The labels as one HTML document (one label per page)."""
    parts = "".join(_label_html(label) for label in labels)
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{CSS}</style></head><body>{parts}</body></html>'


def labels_pdf(labels: Sequence[Label]) -> bytes:
    """The labels as a PDF, one 100 × 70 mm page per container."""
    from weasyprint import HTML  # weasyprint is heavy: only label printing loads it

    pdf: bytes = HTML(string=labels_html(labels)).write_pdf()
    return pdf


def attachment_name(*parts: str, suffix: str) -> str:
    """A safe file name for a Content-Disposition header (lot numbers may hold any character)."""
    stem = "-".join(re.sub(r"[^A-Za-z0-9._-]+", "_", part) for part in parts)
    return f"{stem}.{suffix}"


def _zpl_text(value: str) -> str:
    # ^FH_ lets field data carry any character as _XX hex; ^ ~ and _ must be escaped.
    return "".join(f"_{ord(c):02X}" if c in "^~_" or not c.isprintable() or ord(c) > 126 else c for c in value)


def labels_zpl(labels: Sequence[Label]) -> str:
    """ZPL II for a 203 dpi printer with 100 × 70 mm labels: texts, a Code128 and a QR code."""
    out = []
    for label in labels:
        retest = label.retest_on.isoformat() if label.retest_on else "-"
        lines = [
            f"{label.material_code} {label.material_name}",
            f"Lot {label.lot_number}  Supplier lot {label.supplier_lot or '-'}",
            f"Qty {label.quantity} {label.unit}  Status {label.status.upper()}",
            f"Expiry {label.expires_on.isoformat()}  Retest {retest}",
            f"Storage {label.storage or '-'}",
        ]
        fields = "".join(f"^FO30,{30 + 40 * i}^A0N,30,30^FH_^FD{_zpl_text(t)}^FS" for i, t in enumerate(lines))
        code = _zpl_text(label.barcode)
        out.append(
            "^XA^CI28"
            + fields
            + f"^FO30,250^BY2^BCN,90,Y,N,N^FH_^FD{code}^FS"
            + f"^FO620,30^BQN,2,4^FH_^FDMA,{code}^FS"
            + "^XZ"
        )
    return "\n".join(out) + "\n"
