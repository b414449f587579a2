"""Reading PDFs and bundles the way an inspector would: poppler's tools, pikepdf, the ZIP itself."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pikepdf

from tests.support.components import missing

ARTIFACTS = Path(__file__).resolve().parents[3] / "var" / "test-artifacts" / "record"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing("poppler-utils", f"{name} is not installed (apt-get install poppler-utils)")
    assert found is not None
    return found


def pdf_text(pdf: Path, *, first: int | None = None, last: int | None = None, layout: bool = False) -> str:
    """The PDF's text in reading order (or as laid out), whitespace collapsed (a wrapped line reads as one)."""
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    pages += ["-layout"] if layout else []
    out = subprocess.run([tool("pdftotext"), *pages, str(pdf), "-"], capture_output=True, check=True, text=True)
    return re.sub(r"\s+", " ", out.stdout)


def page_pngs(pdf: Path, name: str) -> list[Path]:
    """Every page as PNG under var/test-artifacts/record/<name>-N.png (kept for people to look at)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run([tool("pdftoppm"), "-png", "-r", "70", str(pdf), str(ARTIFACTS / name)], check=True)
    return sorted(ARTIFACTS.glob(f"{name}-*.png"))


def attachment(pdf: bytes, name: str = "record.json") -> bytes:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return bytes(document.attachments[name].get_file().read_bytes())


def pdfa_part(pdf: bytes) -> tuple[str | None, str | None, bool]:
    """(pdfaid:part, pdfaid:conformance, has an output intent)."""
    with pikepdf.open(io.BytesIO(pdf)) as document:
        meta = document.open_metadata()
        return meta.get("pdfaid:part"), meta.get("pdfaid:conformance"), "/OutputIntents" in document.Root


def rewrite(bundle: Path, name: str, data: bytes, target: Path) -> Path:
    """A copy of ``bundle`` with file ``name`` replaced by ``data`` (manifest untouched)."""
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(target, "w") as out:
        for item in source.namelist():
            out.writestr(item, data if item == name else source.read(item))
    return target
