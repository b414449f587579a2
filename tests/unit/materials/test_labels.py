"""Container labels without a database: ZPL escaping, file names, and the PDF (reportlab):
its text layer, its symbols read back by a barcode reader, any text printed as given."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ebr.materials import labels


def label(barcode: str = "L-1-001", name: str = "Citric acid") -> labels.Label:
    return labels.Label(
        barcode=barcode, material_code="RM-1", material_name=name, lot_number="L-1", supplier_lot="S^1",
        quantity=Decimal("25.000"), unit="kg", status="quarantine", expires_on=dt.date(2028, 1, 1),
        retest_on=None, storage="15-25 °C", text="Keep dry.", index=1, count=1,
    )  # fmt: skip


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def read_symbols(pdf: bytes, tmp: Path) -> list[list[tuple[str, str]]]:
    """Each page rendered at 300 dpi (poppler) and read by zxing-cpp: (format, text) per symbol."""
    (tmp / "labels.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "300", "-gray", "-png", str(tmp / "labels.pdf"), str(tmp / "page")], check=True)
    pages = sorted(tmp.glob("page-*.png"))
    return [sorted((str(r.format), r.text) for r in zxingcpp.read_barcodes(Image.open(page))) for page in pages]


@given(st.text(max_size=40))
def test_no_text_can_end_a_zpl_field_or_start_a_command(text: str) -> None:
    zpl = labels.labels_zpl([label(name=text)])
    fields = re.findall(r"\^FD(.*?)\^FS", zpl, flags=re.DOTALL)
    assert fields
    for value in fields:
        assert "^" not in value
        assert "~" not in value
    assert zpl.count("^XA") == 1
    assert zpl.count("^XZ") == 1


def test_the_zpl_label_carries_the_barcode_in_code128_and_qr() -> None:
    zpl = labels.labels_zpl([label()])
    assert "^BCN,90,Y,N,N^FH_^FDL-1-001^FS" in zpl
    assert "^FDMA,L-1-001^FS" in zpl
    assert "Supplier lot S_5E1" in zpl  # the caret escaped as hex


@given(st.text(max_size=30))
def test_a_file_name_from_any_lot_number_is_safe_in_a_header(lot: str) -> None:
    name = labels.attachment_name("labels", lot, suffix="pdf")
    assert re.fullmatch(r"[A-Za-z0-9._-]+\.pdf", name)


@pytest.mark.requirement("URS-MAT-009")
def test_each_label_carries_its_code_as_text_and_as_a_code128_and_a_qr_code_a_scanner_reads(tmp_path: Path) -> None:
    # Up to ~50 characters a 300 dpi page's Code128 reads (at 203 dpi, ~30: docs/materials.md).
    codes = ["L-1-001", "L-1-002", "12345678-003", "L-" + "A7" * 15 + "-004"]
    pdf = labels.labels_pdf([label(barcode=code) for code in codes])
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for code in codes:
        assert code in text
    for shown in ("QUARANTINE", "Keep dry. Container 1 of 1.", "15-25 °C", "Supplier lot S^1"):
        assert shown in text
    assert read_symbols(pdf, tmp_path) == [sorted([("Code 128", code), ("QR Code", code)]) for code in codes]


def test_a_code_code128_cannot_carry_gets_no_wrong_bars_but_its_qr_code_and_a_notice(tmp_path: Path) -> None:
    pdf = labels.labels_pdf([label(barcode="LÖT-1-001")])
    assert read_symbols(pdf, tmp_path) == [[("QR Code", "LÖT-1-001")]]  # a full QR code, not a Micro QR
    text = pdf_text(pdf)
    assert "LÖT-1-001" in text
    assert "No Code128" in text


def test_a_label_text_too_long_for_the_label_goes_on_to_a_page_naming_the_container() -> None:
    long = label()
    long = dataclasses.replace(long, text=" ".join(f"w{i}" for i in range(400)))
    pdf = labels.labels_pdf([long, label(barcode="L-1-002")])
    pages = pdf_text(pdf).split("\f")
    assert "L-1-001 (continued)" in pages[1]
    words = re.findall(r"\bw\d+\b", " ".join(pages))
    assert words == [f"w{i}" for i in range(400)]  # every word, in order, once
    assert "L-1-002" in pages[-2]  # the next container's label follows


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(max_size=200),
    text=st.text(max_size=300),
    lot=st.text(st.characters(codec="utf-8"), min_size=1, max_size=60),
)
def test_any_text_is_printed_as_given_never_interpreted(name: str, text: str, lot: str) -> None:
    shown = dataclasses.replace(label(barcode=f"{lot}-001", name=name), text=text, lot_number=lot)
    pdf = labels.labels_pdf([shown])
    printed = pdf_text(pdf)
    assert pdf.startswith(b"%PDF")
    markup = "<b>&amp;x</b>"
    assert markup in pdf_text(labels.labels_pdf([dataclasses.replace(shown, material_name=markup)]))
    assert "Container 1 of 1." in printed
