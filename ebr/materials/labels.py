"""Container labels: a PDF of one 100 × 70 mm label per container (for a label roll or a
sheet printer), each with a Code128 barcode and a QR code of the container's barcode, drawn
by reportlab; and ZPL II text for Zebra-compatible label printers.

The barcode's value is also printed as text under it, so the PDF's text layer carries
the code (checked by the tests and readable by a person when the scanner fails).

Why reportlab and not weasyprint (docs/materials.md, benchmarks/materials_receipt.py): a
label has a fixed layout, so drawing it straight onto a PDF canvas (vector bars, QR modules
as one filled path, DejaVu Sans embedded once as a subset) costs a few milliseconds, where
laying out HTML with two bitmaps per label cost weasyprint ~30 ms a label.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import segno


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


MM = 72 / 25.4
"""PDF points per millimetre."""
PAGE = (100 * MM, 70 * MM)
MARGIN = 3 * MM
QR_SIZE = 19 * MM
BAR_HEIGHT = 13 * MM
BAR_WIDTH = 70 * MM
"""The Code128 symbol's width; widened (up to the page's width less margins) when a long
code would make its narrowest bar thinner than ``MIN_MODULE`` (two dots at 300 dpi)."""
MIN_MODULE = 0.17 * MM
TEXT_TOP = PAGE[1] - MARGIN
TEXT_BOTTOM = MARGIN + 6 * MM + BAR_HEIGHT
STATUS_SIZE = 8.5
FONT_SIZES = (8.5, 7.5, 6.5)
"""The text's size: the largest at which the label's lines fit; beyond the smallest, the
lines that do not fit go on to a continuation page that names the container."""
LEADING = 1.3
FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
NOT_ENCODABLE = "No Code128: the code has characters outside ASCII; scan the QR code."

_fonts_lock = threading.Lock()
_fonts_ready = False


def _register_fonts() -> None:
    # DejaVu Sans (Debian's fonts-dejavu-core, installed by scripts/bootstrap.sh): the font
    # the rest of the PDFs use, covering Latin, Greek and Cyrillic and the symbols (°, µ, ±).
    global _fonts_ready
    with _fonts_lock:
        if _fonts_ready:
            return
        from reportlab import rl_config
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        rl_config.useA85 = 0  # binary (deflated) streams: ASCII85 costs time and 25 % size
        pdfmetrics.registerFont(TTFont(FONT, "DejaVuSans.ttf"))
        pdfmetrics.registerFont(TTFont(BOLD, "DejaVuSans-Bold.ttf"))
        _fonts_ready = True


def _clean(text: str) -> str:
    """One line of text: control characters and runs of white space become one space."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy line breaking at spaces; a word wider than the line is broken between characters."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if stringWidth(candidate, font, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:
            if line and stringWidth(line + char, font, size) > width:
                lines.append(line)
                line = ""
            line += char
    if line or not lines:
        lines.append(line)
    return lines


def _texts(label: Label) -> list[tuple[str, bool]]:
    """The label's lines before wrapping, with whether each is bold."""
    retest = label.retest_on.isoformat() if label.retest_on else "-"
    plain = (
        f"Lot {label.lot_number}   Supplier lot {label.supplier_lot or '-'}",
        f"Quantity {label.quantity} {label.unit}",
        f"Expiry {label.expires_on.isoformat()}   Retest {retest}",
        f"Storage {label.storage or '-'}",
        f"{label.text} Container {label.index} of {label.count}.",
    )
    title = f"{label.material_code} {label.material_name}"
    return [(_clean(title), True), *((_clean(t), False) for t in plain)]


def _status_box(label: Label) -> tuple[str, float, float]:
    """The status as printed, and its box's width and height (top right corner)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    status = _clean(label.status.upper())
    return status, stringWidth(status, BOLD, STATUS_SIZE) + 4 * MM, STATUS_SIZE * LEADING + 1 * MM


def _layout(label: Label) -> tuple[float, list[tuple[str, bool]]]:
    """The font size and the wrapped lines (all of them, maybe more than one page holds):
    left of the status box and the QR code."""
    width = PAGE[0] - 2 * MARGIN - max(QR_SIZE, _status_box(label)[1]) - 2 * MM
    texts = _texts(label)
    for size in FONT_SIZES:
        lines = [(part, bold) for text, bold in texts for part in _wrap(text, BOLD if bold else FONT, size, width)]
        if len(lines) <= _capacity(size, TEXT_TOP - TEXT_BOTTOM):
            break
    return size, lines


def _capacity(size: float, height: float) -> int:
    return int((height - size) // (size * LEADING)) + 1


def code128_modules(value: str) -> int | None:
    """The width of ``value``'s Code128 symbol in modules (narrowest bars), or None when
    Code128 cannot carry it (a character outside ASCII: reportlab would silently drop it)."""
    if not value or any(ord(c) > 127 for c in value):
        return None
    from reportlab.graphics.barcode.code128 import Code128

    return int(Code128(value, barWidth=1, quiet=False).width)


def qr_matrix(value: str) -> tuple[bytearray, ...]:
    """The modules of ``value``'s QR code (a full QR code, as the ZPL's ``^BQ`` prints, not a
    Micro QR, which many scanners do not read), rows top to bottom, without the quiet zone."""
    matrix: tuple[bytearray, ...] = segno.make_qr(value, error="m").matrix
    return matrix


def _draw_qr(canvas: Any, value: str, right: float, top: float) -> None:
    matrix = qr_matrix(value)
    n = len(matrix)
    module = QR_SIZE / n
    canvas.saveState()
    canvas.translate(right - QR_SIZE, top)
    canvas.scale(module, -module)  # one unit per module, rows downwards
    path = canvas.beginPath()
    for y, row in enumerate(matrix):
        for start, end in _runs(row):
            path.rect(start, y, end - start, 1)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def _runs(row: bytearray) -> Iterator[tuple[int, int]]:
    """The dark runs of a QR row as (start, end) column pairs: one rectangle per run."""
    x, n = 0, len(row)
    while x < n:
        if row[x]:
            start = x
            while x < n and row[x]:
                x += 1
            yield start, x
        else:
            x += 1


def _draw_code128(canvas: Any, value: str) -> None:
    modules = code128_modules(value)
    if modules is None:
        canvas.setFont(FONT, 7)
        canvas.drawCentredString(PAGE[0] / 2, MARGIN + 6 * MM + BAR_HEIGHT / 2, NOT_ENCODABLE)
        return
    from reportlab.graphics.barcode.code128 import Code128

    width = min(max(BAR_WIDTH, modules * MIN_MODULE), PAGE[0] - 2 * MARGIN)
    symbol = Code128(value, barWidth=width / modules, barHeight=BAR_HEIGHT, quiet=False)
    symbol.drawOn(canvas, (PAGE[0] - width) / 2, MARGIN + 5 * MM)


def _draw_lines(canvas: Any, lines: list[tuple[str, bool]], size: float, top: float) -> None:
    y = top - size
    for text, bold in lines:
        canvas.setFont(BOLD if bold else FONT, size)
        canvas.drawString(MARGIN, y, text)
        y -= size * LEADING


def _draw_label(canvas: Any, label: Label) -> None:
    size, lines = _layout(label)
    first = _capacity(size, TEXT_TOP - TEXT_BOTTOM)
    # The status, boxed, in the top right corner; the QR code under it.
    status, box_w, box_h = _status_box(label)
    canvas.setFont(BOLD, STATUS_SIZE)
    canvas.setLineWidth(0.4 * MM)
    canvas.rect(PAGE[0] - MARGIN - box_w, TEXT_TOP - box_h, box_w, box_h, stroke=1, fill=0)
    canvas.drawString(PAGE[0] - MARGIN - box_w + 2 * MM, TEXT_TOP - box_h + 1.6 * MM, status)
    _draw_qr(canvas, label.barcode, PAGE[0] - MARGIN, TEXT_TOP - box_h - 1 * MM)
    _draw_lines(canvas, lines[:first], size, TEXT_TOP)
    _draw_code128(canvas, label.barcode)
    # The code in text, as large as fits across the label (10 pt for a usual code).
    code_size = min(10.0, 10.0 * (PAGE[0] - 2 * MARGIN) / max(1.0, canvas.stringWidth(label.barcode, BOLD, 10)))
    canvas.setFont(BOLD, code_size)
    canvas.drawCentredString(PAGE[0] / 2, MARGIN + 1 * MM, label.barcode)
    canvas.showPage()
    # What did not fit: continuation pages, each naming the container.
    rest = lines[first:]
    per_page = _capacity(size, PAGE[1] - 2 * MARGIN - 10 * MM)
    while rest:
        canvas.setFont(BOLD, 10)
        canvas.drawString(MARGIN, TEXT_TOP - 10, f"{label.barcode} (continued)")
        _draw_lines(canvas, rest[:per_page], size, TEXT_TOP - 6 * MM)
        rest = rest[per_page:]
        canvas.showPage()


def labels_pdf(labels: Sequence[Label]) -> bytes:
    """The labels as a PDF, one 100 × 70 mm page per container (a label whose texts do not
    fit at the smallest size goes on to a continuation page)."""
    from reportlab.pdfgen.canvas import Canvas  # only label printing loads reportlab

    _register_fonts()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=PAGE, pageCompression=1, invariant=1)
    canvas.setTitle("Container labels")
    for label in labels:
        _draw_label(canvas, label)
    canvas.save()
    return out.getvalue()


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
