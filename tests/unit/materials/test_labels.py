"""Container labels without a database: ZPL escaping, file names, the PNG symbols."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ebr.materials import labels


def label(barcode: str = "L-1-001", name: str = "Citric acid") -> labels.Label:
    return labels.Label(
        barcode=barcode, material_code="RM-1", material_name=name, lot_number="L-1", supplier_lot="S^1",
        quantity=Decimal("25.000"), unit="kg", status="quarantine", expires_on=dt.date(2028, 1, 1),
        retest_on=None, storage="15-25 °C", text="Keep dry.", index=1, count=1,
    )  # fmt: skip


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


def test_the_symbols_are_png_images() -> None:
    assert labels.code128_png("L-1-001").startswith(b"\x89PNG")
    assert labels.qr_png("L-1-001").startswith(b"\x89PNG")


def test_the_label_html_escapes_what_it_shows() -> None:
    shown = labels.labels_html([label(name="<b>x</b>")])
    assert "&lt;b&gt;x&lt;/b&gt;" in shown
    assert "L-1-001" in shown
