"""Reading a tagged PDF's structure the way an accessibility checker does (pikepdf only, no trust in the writer)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pikepdf
from pikepdf import Array, Dictionary, Name

from ebr.records.tagged import number_tree

TEXT_OPERATORS = {"Tj", "TJ", "'", '"'}


@dataclass
class Structure:
    """What :func:`check_tagged` found: element tags in reading order and each element's subtree shape."""

    tags: list[str] = field(default_factory=list)
    tops: list[Any] = field(default_factory=list)
    pages: int = 0
    mcids: int = 0


def shape(element: pikepdf.Object) -> Any:
    """An element's structure, comparable across files: (tag, kids' shapes), an MCID as "mc", a link as "obj"."""
    kids = element.get(Name.K)
    items = [] if kids is None else list(kids) if isinstance(kids, Array) else [kids]
    out: list[Any] = []
    for kid in items:
        if isinstance(kid, Dictionary) and Name.S in kid:
            out.append(shape(kid))
        elif isinstance(kid, Dictionary) and kid.get(Name.Type) == Name.OBJR:
            out.append("obj")
        else:
            out.append("mc")
    return (str(element.S), tuple(out))


def _mcid(operands: Any) -> int | None:
    if len(operands) == 2 and isinstance(operands[1], Dictionary) and Name.MCID in operands[1]:
        return int(operands[1].MCID)
    return None


def marked_content(page: pikepdf.Page) -> set[int]:
    """The page's MCIDs; asserts every text and XObject drawn is inside tagged content or an artifact."""
    found: set[int] = set()
    stack: list[str] = []  # "mcid", "artifact" or "other" per open BDC/BMC
    for instruction in pikepdf.parse_content_stream(page):
        if not isinstance(instruction, pikepdf.ContentStreamInstruction):
            continue  # an inline image: inside its BDC already
        operands, op = instruction.operands, str(instruction.operator)
        if op in ("BDC", "BMC"):
            mcid = _mcid(operands) if op == "BDC" else None
            if mcid is not None:
                assert mcid not in found, f"MCID {mcid} is used twice on one page"
                found.add(mcid)
                stack.append("mcid")
            else:
                stack.append("artifact" if operands[0] == Name.Artifact else "other")
        elif op == "EMC":
            assert stack, "EMC without BDC/BMC"
            stack.pop()
        elif op in TEXT_OPERATORS or op == "Do":
            assert {"mcid", "artifact"} & set(stack), f"{op} outside tagged content and outside any artifact"
    assert not stack, "marked content left open at the end of the page"
    return found


def check_tagged(pdf: pikepdf.Pdf) -> Structure:
    """Assert ``pdf`` is one consistent tagged document and return what was found.

    One ``/StructTreeRoot`` with one ``Document`` element; every element's ``/P`` is its
    parent in the tree; every ``/Pg`` is a page of this file; page and annotation keys
    unique; every MCID in every page's content stream is reached through the
    ``/ParentTree`` to an element of the tree that names it, and the tree names no MCID
    the pages do not have; every element id is in the ``/IDTree``, once.
    """
    catalog = pdf.Root
    assert bool(catalog.MarkInfo.Marked), "/MarkInfo /Marked true"
    assert str(catalog.Lang), "/Lang"
    assert bool(catalog.ViewerPreferences.DisplayDocTitle)
    root = catalog.StructTreeRoot
    assert root.Type == Name.StructTreeRoot
    assert isinstance(root.K, Array), "the root's kids are an array"
    assert len(root.K) == 1, "one Document element"
    assert Name.Document == root.K[0].S, "one Document element"
    pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
    result = Structure(pages=len(pages))
    reached: dict[tuple[int, int], tuple[int, int]] = {}  # (page, mcid) -> element
    elements: set[tuple[int, int]] = set()
    ids: list[bytes] = []
    stack: list[tuple[pikepdf.Object, pikepdf.Object]] = [(root.K[0], root)]
    while stack:
        element, parent = stack.pop()
        assert element.is_indirect, "elements are indirect objects (the parent tree points at them)"
        assert element.objgen not in elements, "an element is in the tree twice"
        elements.add(element.objgen)
        assert element.P.objgen == parent.objgen, f"{element.S}'s /P is not its parent in the tree"
        result.tags.append(str(element.S))
        if Name.ID in element:
            ids.append(bytes(element.ID))
        page = element.get(Name.Pg)
        assert page is None or page.objgen in pages, f"{element.S} points at a page outside the document"
        kids = element.get(Name.K)
        items = [] if kids is None else list(kids) if isinstance(kids, Array) else [kids]
        children = []
        for kid in items:
            if isinstance(kid, Dictionary) and Name.S in kid:
                children.append((kid, element))
            elif isinstance(kid, Dictionary):  # a marked-content or object reference
                kid_page = kid.get(Name.Pg, page)
                assert kid_page is not None, "a reference with no page"
                assert kid_page.objgen in pages, "a reference outside the document"
                if kid.get(Name.Type) == Name.MCR:
                    reached[(pages[kid_page.objgen], int(kid.MCID))] = element.objgen
            else:
                assert page is not None, "an MCID with no page"
                where = (pages[page.objgen], int(kid))
                assert where not in reached, f"MCID {where} claimed by two elements"
                reached[where] = element.objgen
        stack.extend(reversed(children))
    result.tops = [shape(kid) for kid in root.K[0].K]
    nums = dict(number_tree(root.ParentTree))
    keys: list[int] = []
    used: set[tuple[int, int]] = set()
    for index, sheet in enumerate(pdf.pages):
        mcids = marked_content(sheet)
        if not mcids:
            continue
        key = int(sheet.obj.StructParents)
        keys.append(key)
        for mcid in mcids:
            target = nums[key][mcid]
            assert target.objgen in elements, f"page {index + 1} MCID {mcid}: its element is not in the tree"
            assert reached.get((index, mcid)) == target.objgen, f"page {index + 1} MCID {mcid}: tree and page disagree"
            used.add((index, mcid))
        for annotation in sheet.obj.get(Name.Annots, Array()):
            if Name.StructParent in annotation:
                keys.append(int(annotation.StructParent))
                assert nums[int(annotation.StructParent)].objgen in elements
    assert len(keys) == len(set(keys)), "parent-tree keys are unique"
    assert set(reached) == used, "the tree names marked content no page has"
    if Name.ParentTreeNextKey in root:  # WeasyPrint leaves it out; the join writes it
        assert int(root.ParentTreeNextKey) > max(keys, default=-1)
    assert len(ids) == len(set(ids)), "element ids are unique"
    if ids:
        tree = root.IDTree.Names
        listed = {bytes(tree[i]): tree[i + 1].objgen for i in range(0, len(tree), 2)}
        assert set(listed) == set(ids), "every element id is in the /IDTree"
    result.mcids = len(used)
    return result


def _to_unicode(font: pikepdf.Object) -> dict[bytes, str]:
    """A WeasyPrint font's ToUnicode map (``bfchar`` lines of two-byte glyph codes)."""
    if Name.ToUnicode not in font:
        return {}
    cmap = font.ToUnicode.read_bytes().decode("latin-1")
    pairs = re.findall(r"<([0-9a-fA-F]{4})>\s*<([0-9a-fA-F]*)>", cmap.split("endcodespacerange", 1)[-1])
    return {bytes.fromhex(code): bytes.fromhex(text).decode("utf-16-be") for code, text in pairs}


def _page_text(page: pikepdf.Page) -> dict[int, str]:
    """MCID → the text drawn inside it on ``page``."""
    fonts = page.obj.get(Name.Resources, pikepdf.Dictionary()).get(Name.Font, pikepdf.Dictionary())
    maps = {str(name): _to_unicode(font) for name, font in fonts.items()}
    texts: dict[int, list[str]] = {}
    stack: list[int | None] = []
    glyphs: dict[bytes, str] = {}
    for instruction in pikepdf.parse_content_stream(page):
        if not isinstance(instruction, pikepdf.ContentStreamInstruction):
            continue
        operands, op = instruction.operands, str(instruction.operator)
        if op in ("BDC", "BMC"):
            stack.append(_mcid(operands) if op == "BDC" else None)
        elif op == "EMC":
            stack.pop()
        elif op == "Tf":
            glyphs = maps.get(str(operands[0]), {})
        elif op in TEXT_OPERATORS and stack and stack[-1] is not None:
            strings = operands[-1] if op == "TJ" else [operands[-1]]
            for item in strings:
                if isinstance(item, pikepdf.String):
                    raw = bytes(item)
                    text = "".join(glyphs.get(raw[i : i + 2], "") for i in range(0, len(raw), 2))
                    texts.setdefault(stack[-1], []).append(text)
    return {mcid: "".join(parts) for mcid, parts in texts.items()}


def structure_text(pdf: pikepdf.Pdf) -> list[tuple[int, str, str]]:
    """Every element in reading order: (depth, tag, the text of its own marked content), as ``pdfinfo -struct-text``.

    Read with pikepdf (poppler's ``-struct-text`` takes minutes on a few hundred pages).
    """
    pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
    texts: dict[int, dict[int, str]] = {}
    out: list[tuple[int, str, str]] = []
    stack: list[tuple[int, pikepdf.Object]] = [(0, pdf.Root.StructTreeRoot.K[0])]
    while stack:
        depth, element = stack.pop()
        kids = element.get(Name.K)
        items = [] if kids is None else list(kids) if isinstance(kids, Array) else [kids]
        own = []
        for kid in items:
            if isinstance(kid, int | pikepdf.Object) and not isinstance(kid, Dictionary):
                page = pages[element.Pg.objgen]
                if page not in texts:
                    texts[page] = _page_text(pdf.pages[page])
                own.append(texts[page].get(int(kid), ""))
        out.append((depth, str(element.S)[1:], "".join(own)))
        stack.extend((depth + 1, kid) for kid in reversed(items) if isinstance(kid, Dictionary) and Name.S in kid)
    return out


def headings(elements: list[tuple[int, str, str]]) -> list[tuple[str, str]]:
    """(H1…H6, all the text under it) in reading order."""
    found = []
    for index, (depth, tag, text) in enumerate(elements):
        if re.fullmatch(r"H[1-6]", tag):
            words = [text]
            for below, _tag, more in elements[index + 1 :]:
                if below <= depth:
                    break
                words.append(more)
            found.append((tag, "".join(words).strip()))
    return found
