"""One structure tree for a PDF joined from tagged WeasyPrint documents.

WeasyPrint's ``pdf_tags`` gives each document a ``/StructTreeRoot`` with one
``Document`` element, a ``/ParentTree`` (number tree: a page's ``/StructParents``
key → the elements of its marked content, by MCID; an annotation's
``/StructParent`` key → its element) and ``/Pg`` on every element. Joining the
pages of several such documents keeps none of that, so :class:`StructureJoin`
rebuilds it:

* the first document's ``Document`` element stays; each appended part's top
  elements become its kids, in page order (``/P`` set to it);
* each part's parent-tree keys are shifted by an offset (pages' ``/StructParents``,
  annotations' ``/StructParent`` and the number-tree keys alike), so keys stay unique;
* elements are copied with the same foreign-object mapping as the part's pages
  (pikepdf/qpdf keep one mapping per source file), so ``/Pg`` and ``/Obj`` point at
  the merged file's pages and annotations;
* element ids (WeasyPrint's table headers, ``/ID`` and ``/Headers``) are made unique
  with a part prefix (:func:`prefix_ids`, run in the worker that laid the part out)
  and gathered in an ``/IDTree``; ``/RoleMap`` and ``/ClassMap`` are merged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pikepdf
from pikepdf import Array, Dictionary, Name, String


def elements(root: pikepdf.Object) -> Iterator[pikepdf.Dictionary]:
    """Every structure element under ``root`` (a ``/StructTreeRoot`` or element), depth first, in order."""
    stack = list(reversed(_kids(root)))
    while stack:
        node = stack.pop()
        if isinstance(node, Dictionary) and Name.S in node:
            yield node
            stack.extend(reversed(_kids(node)))


def _kids(node: pikepdf.Object) -> list[pikepdf.Object]:
    kids = node.get(Name.K) if isinstance(node, Dictionary) else None
    if kids is None:
        return []
    return list(kids) if isinstance(kids, Array) else [kids]


def number_tree(node: pikepdf.Object) -> Iterator[tuple[int, pikepdf.Object]]:
    """The (key, value) pairs of a number tree (``/Nums`` leaves under ``/Kids``)."""
    nums = node.get(Name.Nums)
    if nums is not None:
        for i in range(0, len(nums), 2):
            yield int(nums[i]), nums[i + 1]
    for kid in node.get(Name.Kids, Array()):
        yield from number_tree(kid)


def _name_tree(node: pikepdf.Object) -> Iterator[tuple[bytes, pikepdf.Object]]:
    names = node.get(Name.Names)
    if names is not None:
        for i in range(0, len(names), 2):
            yield bytes(names[i]), names[i + 1]
    for kid in node.get(Name.Kids, Array()):
        yield from _name_tree(kid)


def prefix_ids(pdf: pikepdf.Pdf, prefix: str) -> None:
    """Make ``pdf``'s element ids unique among parts (``prefix`` + id) and list them in an ``/IDTree``."""
    root = pdf.Root.get(Name.StructTreeRoot)
    if root is None:
        return
    tree: dict[bytes, pikepdf.Object] = {}
    for element in elements(root):
        if Name.ID in element:
            element.ID = String(prefix.encode() + bytes(element.ID))
            tree[bytes(element.ID)] = element
        attributes = element.get(Name.A)
        for attribute in attributes if isinstance(attributes, Array) else [attributes]:
            if isinstance(attribute, Dictionary) and Name.Headers in attribute:
                attribute.Headers = Array([String(prefix.encode() + bytes(h)) for h in attribute.Headers])
    if tree:
        root.IDTree = Dictionary(Names=Array([x for key in sorted(tree) for x in (String(key), tree[key])]))


class StructureJoin:
    """The structure tree of ``pdf`` (tagged), extended by each tagged part whose pages are appended."""

    def __init__(self, pdf: pikepdf.Pdf) -> None:
        self.pdf = pdf
        root = pdf.Root.get(Name.StructTreeRoot)
        if root is None:
            raise ValueError("the first document is not tagged (no /StructTreeRoot): lay it out with pdf_tags=True")
        kids = _kids(root)
        if len(kids) != 1 or kids[0].get(Name.S) != Name.Document:
            raise ValueError("the first document's structure tree is not one Document element")
        self.root = root
        self.document = kids[0]
        self.nums: dict[int, pikepdf.Object] = dict(number_tree(root.ParentTree))
        self.ids: dict[bytes, pikepdf.Object] = dict(_name_tree(root.IDTree)) if Name.IDTree in root else {}
        self.next_key = max([int(root.get(Name.ParentTreeNextKey, 0)), *(k + 1 for k in self.nums)])

    def append(self, part: pikepdf.Pdf) -> None:
        """Append ``part``'s pages to the file and its structure to the tree (pages in order, keys shifted)."""
        root = part.Root.get(Name.StructTreeRoot)
        if root is None:
            raise ValueError("a part is not tagged (no /StructTreeRoot): lay it out with pdf_tags=True")
        kids = _kids(root)
        if len(kids) != 1 or kids[0].get(Name.S) != Name.Document:
            raise ValueError("a part's structure tree is not one Document element")
        ids = list(_name_tree(root.IDTree)) if Name.IDTree in root else []
        clash = next((key for key, _value in ids if key in self.ids), None)
        if clash is not None:
            raise ValueError(f"element id {clash.decode()!r} is in two parts: give each part its own prefix_ids")
        roles, known = root.get(Name.RoleMap, Dictionary()), self.root.get(Name.RoleMap, Dictionary())
        for name, value in roles.items():
            if name in known and known[name] != value:
                raise ValueError(f"role {name} maps to {known[name]} in one part and to {value} in another")
        offset = self.next_key
        first = len(self.pdf.pages)
        self.pdf.pages.extend(part.pages)
        # The top elements' parent is the part's Document: cut it, so copying them does not copy it too.
        top = _kids(kids[0])
        for element in top:
            del element[Name.P]
        copy = self.pdf.copy_foreign
        for element in top:
            copied = copy(element)
            copied.P = self.document
            self.document.K.append(copied)
        for key, value in number_tree(root.ParentTree):
            self.nums[key + offset] = Array([copy(v) for v in value]) if isinstance(value, Array) else copy(value)
            self.next_key = max(self.next_key, key + offset + 1)
        for page in self.pdf.pages[first:]:
            if Name.StructParents in page.obj:
                page.obj.StructParents = int(page.obj.StructParents) + offset
                self.next_key = max(self.next_key, int(page.obj.StructParents) + 1)
            for annotation in page.obj.get(Name.Annots, Array()):
                if Name.StructParent in annotation:
                    annotation.StructParent = int(annotation.StructParent) + offset
        for identifier, element in ids:
            self.ids[identifier] = copy(element)
        for mapping in (Name.RoleMap, Name.ClassMap):
            if mapping not in root:
                continue
            if mapping not in self.root:
                self.root[mapping] = Dictionary()
            merged = self.root[mapping]
            for name, value in root[mapping].items():
                if name not in merged:
                    merged[name] = copy(part.make_indirect(value)) if isinstance(value, Dictionary | Array) else value

    def finish(self) -> None:
        """Write the parent tree, id tree and the catalog entries a tagged PDF needs."""
        nums = Array()
        for key in sorted(self.nums):
            nums.append(key)
            nums.append(self.nums[key])
        self.root.ParentTree = self.pdf.make_indirect(Dictionary(Nums=nums))
        self.root.ParentTreeNextKey = self.next_key
        if self.ids:
            names = Array([x for key in sorted(self.ids) for x in (String(key), self.ids[key])])
            self.root.IDTree = self.pdf.make_indirect(Dictionary(Names=names))
        catalog = self.pdf.Root
        catalog.MarkInfo = Dictionary(Marked=True)
        if Name.ViewerPreferences not in catalog:
            catalog.ViewerPreferences = Dictionary()
        catalog.ViewerPreferences.DisplayDocTitle = True
        if Name.Lang not in catalog or not str(catalog.Lang):
            catalog.Lang = String("en")
