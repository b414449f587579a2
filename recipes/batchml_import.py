"""BatchML master recipes in: V0701 (validated against its schema) and the older V02 namespace.

The document is read by element names (the two versions share the master-recipe
vocabulary), turned into the YAML authoring form and validated like any authored
recipe (``recipes.authoring.parse_document``). What has no place in our model is
listed in :attr:`Imported.unmapped`, one line per element, with its location
(``MasterRecipe[X]/RecipeElement[UP1]/OtherInformation: not mapped``); nothing
is dropped silently. Phases written by other systems (without our ``type``
parameter) become instructions that carry their description, and say so.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree
from marshmallow import fields

from recipes.authoring import RecipeInvalid, parse_document
from recipes.batchml import NS, NS_V02, TRUE, schema_problems
from recipes.model import Recipe
from recipes.schema import PHASE_SCHEMAS, phase_schema

FORMATS = {NS: "BatchML V0701", NS_V02: "BatchML V02"}
LEVELS = ("UnitProcedure", "Operation", "Phase")
SILENT = {"Version", "VersionDate", "RecipeElementType", "ID", "Description"}


@dataclass(frozen=True)
class Imported:
    """One master recipe read from BatchML, with what could not be mapped."""

    recipe: Recipe
    version: str | None
    format: str
    unmapped: tuple[str, ...]


def _local(element: etree._Element) -> str:
    tag: str = element.tag
    return tag.rpartition("}")[2]


def _kids(element: etree._Element, name: str | None = None) -> list[etree._Element]:
    if name is None:
        return [c for c in element if isinstance(c.tag, str)]
    # Children share the parent's namespace in BatchML; lxml filters by tag in C.
    tag: str = element.tag
    return list(element.iterchildren(tag[: tag.rfind("}") + 1] + name))


def _text(element: etree._Element, name: str) -> str | None:
    found = _kids(element, name)
    return (found[0].text or "").strip() if found else None


def _parse(data: bytes, source: str) -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        return etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as exc:
        raise RecipeInvalid(f"{source} is not well-formed XML", [f"line {exc.lineno}: {exc.msg}"]) from None


def read_batchml(data: bytes, *, source: str = "document") -> list[Imported]:
    """Every master recipe in a BatchML document; raises ``RecipeInvalid`` listing every problem."""
    tree = _parse(data, source)
    root = tree.getroot()
    namespace = etree.QName(root).namespace
    if namespace not in FORMATS:
        raise RecipeInvalid(
            f"{source} is not BatchML",
            [f"root element {root.tag} is in namespace {namespace!r}; expected {NS} (V0701) or {NS_V02} (V02)"],
        )
    if namespace == NS:
        problems = schema_problems(tree)
        if problems:
            raise RecipeInvalid(f"{source} fails the BatchML V0701 schema; nothing was imported", problems)
    masters = [root] if _local(root) == "MasterRecipe" else _kids(root, "MasterRecipe")
    if not masters:
        raise RecipeInvalid(f"{source} holds no MasterRecipe", [f"{_local(root)}: no MasterRecipe element"])
    unmapped = [f"{_local(root)}/{_local(c)}: not mapped" for c in _kids(root) if _local(c) != "MasterRecipe"]
    results, problems = [], []
    for master in masters:
        reader = _Reader(master)
        document = reader.document()
        if reader.errors:
            problems += reader.errors
            continue
        try:
            recipe = parse_document(document, source=f"{source} MasterRecipe[{reader.name}]")
        except RecipeInvalid as exc:
            problems += [f"MasterRecipe[{reader.name}]: {p}" for p in exc.problems]
            continue
        results.append(Imported(recipe, _text(master, "Version"), FORMATS[namespace], (*unmapped, *reader.unmapped)))
    if problems:
        raise RecipeInvalid(f"{source} has {len(problems)} problem(s); nothing was imported", problems)
    return results


def _id(raw: str) -> str:
    """A step id of ours from a foreign id: its last dotted segment, other characters made ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", raw.rsplit(".", 1)[-1])
    return cleaned if re.match(r"^[A-Za-z]", cleaned) else f"S{cleaned}"


class _Reader:
    """Reads one MasterRecipe into the authoring dict, collecting what it cannot map."""

    def __init__(self, master: etree._Element) -> None:
        self.master = master
        self.name = _text(master, "ID") or "?"
        self.unmapped: list[str] = []
        self.errors: list[str] = []

    def skip(self, where: str, element: etree._Element, why: str = "not mapped") -> None:
        self.unmapped.append(f"{where}/{_local(element)}: {why}")

    def document(self) -> dict[str, Any]:
        where = f"MasterRecipe[{self.name}]"
        # Kept exactly as written (free text; the round trip must be lossless).
        descriptions = [d.text or "" for d in _kids(self.master, "Description")]
        doc: dict[str, Any] = {"name": self.name, "title": descriptions[0] if descriptions else self.name}
        if len(descriptions) > 1:
            doc["description"] = "\n".join(descriptions[1:])
        for child in _kids(self.master):
            tag = _local(child)
            if tag == "Header":
                doc.update(self.header(child, f"{where}/Header"))
            elif tag == "Formula":
                doc.update(self.formula(child, f"{where}/Formula"))
            elif tag not in SILENT | {"ProcedureLogic", "RecipeElement"}:
                self.skip(where, child)
        elements = _kids(self.master, "RecipeElement")
        container = self.master
        if len(elements) == 1 and _text(elements[0], "RecipeElementType") == "Procedure":
            container, elements = elements[0], _kids(elements[0], "RecipeElement")
        doc["unit_procedures"], doc["transitions"] = self.level(container, where, 0)
        return doc

    def header(self, header: etree._Element, where: str) -> dict[str, Any]:
        out: dict[str, Any] = {"product": {"code": _text(header, "ProductID"), "name": _text(header, "ProductName")}}
        if out["product"]["name"] is None:
            out["product"]["name"] = out["product"]["code"]
        for child in _kids(header):
            if _local(child) not in ("ProductID", "ProductName", "BatchSize"):
                self.skip(where, child)
        sizes = _kids(header, "BatchSize")
        if sizes:
            size = sizes[0]
            nominal = _text(size, "Nominal")
            unit = _text(size, "UnitOfMeasure") or next((c.get("unitCode") for c in _kids(size, "Nominal")), None)
            out["batch_size"] = {
                "nominal": nominal,
                "min": _text(size, "Min") or nominal,
                "max": _text(size, "Max") or nominal,
                "unit": unit,
            }
            for child in _kids(size):
                if _local(child) not in ("Nominal", "Min", "Max", "UnitOfMeasure"):
                    self.skip(f"{where}/BatchSize", child)
        return out

    def formula(self, formula: etree._Element, where: str) -> dict[str, Any]:
        parameters, materials = [], []
        for p in _kids(formula, "Parameter"):
            ident = _text(p, "ID") or "?"
            kind = _text(p, "ParameterType")
            value, unit = self.first_value(p)
            at = f"{where}/Parameter[{ident}]"
            if kind == "ProcessInput":
                line: dict[str, Any] = {
                    "code": ident,
                    "name": _text(p, "Description") or ident,
                    "quantity": value,
                    "unit": unit,
                }
                line["scaled"] = _text(p, "Scaled") != "No"
                line.update(self.children(p, at, ("tolerance", "tolerance_unit", "precision")))
                materials.append(line)
            elif kind == "ProcessParameter":
                name = re.sub(r"[^a-z0-9_]", "_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", ident).lower())
                if name != ident:
                    self.unmapped.append(f"{at}: renamed to {name} (parameter names are lower_snake_case)")
                entry = {"name": name, "value": value, "unit": unit, "scaled": _text(p, "Scaled") == "Yes"}
                if _text(p, "Description"):
                    entry["description"] = _text(p, "Description")
                entry.update(self.children(p, at, ("low", "high", "precision")))
                parameters.append(entry)
            else:
                self.unmapped.append(f"{at}: ParameterType {kind} not mapped (only ProcessInput, ProcessParameter)")
        return {"formula": {"parameters": parameters}, "bill_of_materials": {"materials": materials}}

    def first_value(self, parameter: etree._Element) -> tuple[str | None, str | None]:
        values = _kids(parameter, "Value")
        if not values:
            return None, None
        return _text(values[0], "ValueString"), _text(values[0], "UnitOfMeasure") or None

    def children(self, parameter: etree._Element, where: str, known: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _kids(parameter, "Parameter"):
            ident = _text(child, "ID") or "?"
            if ident in known:
                out[ident] = self.first_value(child)[0]
            else:
                self.unmapped.append(f"{where}/Parameter[{ident}]: not mapped")
        return out

    def level(self, container: etree._Element, where: str, depth: int) -> tuple[list[dict[str, Any]], list[Any]]:
        """The child elements of ``container`` in step order, and the transitions between them."""
        nested: dict[str, etree._Element] = {}
        for e in _kids(container, "RecipeElement"):
            ident = _text(e, "ID") or ""
            if ident in nested:
                self.errors.append(f"{where}: two RecipeElements with ID {ident!r}; IDs must be unique")
            nested[ident] = e
        logic = _kids(container, "ProcedureLogic")
        steps = [(s, _text(s, "RecipeElementID") or "") for s in _kids(logic[0], "Step")] if logic else []
        # (step id, our local id, element); the local id comes from the element's own id.
        order: list[tuple[str, str, etree._Element]] = []
        ends: set[str] = set()
        for step, element_id in steps:
            element = nested.get(element_id)
            step_id = _text(step, "ID") or element_id
            if element is None or _text(element, "RecipeElementType") in ("Begin", "End"):
                ends.add(step_id)
                if element is None and element_id not in ("", "Begin", "End"):
                    self.unmapped.append(f"{where}/ProcedureLogic/Step[{step_id}]: element {element_id} not found")
                continue
            order.append((step_id, _id(element_id), element))
        listed = {id(e) for _, _, e in order}
        order += [
            (_text(e, "ID") or "", _id(_text(e, "ID") or "X"), e)
            for e in nested.values()
            if id(e) not in listed and _text(e, "RecipeElementType") not in ("Begin", "End")
        ]
        items = [self.element(e, local, f"{where}/RecipeElement[{_text(e, 'ID')}]", depth) for _, local, e in order]
        ids = {step: local for step, local, _ in order}
        transitions = self.transitions(logic[0], ids, ends, f"{where}/ProcedureLogic") if logic else []
        if transitions == [{"from": [a["id"]], "to": [b["id"]]} for a, b in itertools.pairwise(items)]:
            transitions = []  # the implicit sequence, written out
        return items, transitions

    def element(self, element: etree._Element, local_id: str, where: str, depth: int) -> dict[str, Any]:
        kind = _text(element, "RecipeElementType")
        if kind != LEVELS[depth] and not (depth == 0 and kind == "UnitRecipe"):
            self.unmapped.append(f"{where}: a {kind} where a {LEVELS[depth]} belongs; read as a {LEVELS[depth]}")
        name = _text(element, "Description") or _text(element, "ID") or local_id
        if depth == 2:
            return self.phase(element, local_id, name, where)
        out: dict[str, Any] = {"id": local_id, "name": name}
        for child in _kids(element):
            tag = _local(child)
            if tag == "EquipmentRequirement" and depth == 0 and "equipment" not in out:
                out["equipment"] = self.equipment(child)
            elif tag not in SILENT | {"ProcedureLogic", "RecipeElement"}:
                self.skip(where, child)
        if depth == 0:
            out.setdefault("equipment", {"unit_class": "unspecified"})
        key = "operations" if depth == 0 else "phases"
        out[key], out["transitions"] = self.level(element, where, depth + 1)
        return out

    def equipment(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {"unit_class": _text(element, "ID") or "unspecified", "capabilities": []}
        for constraint in _kids(element, "Constraint"):
            key, condition = _text(constraint, "ID"), _text(constraint, "Condition") or ""
            if key == "unit":
                out["unit"] = condition
            elif key == "min_capacity":
                amount, _, unit = condition.partition(" ")
                out["min_capacity"], out["capacity_unit"] = amount, unit or None
            else:
                out["capabilities"].append(condition if key == "capability" else f"{key}: {condition}")
        return out

    def phase(self, element: etree._Element, local_id: str, name: str, where: str) -> dict[str, Any]:
        fields_by_id = {(_text(p, "ID") or ""): p for p in _kids(element, "Parameter")}
        for child in _kids(element):
            if _local(child) not in SILENT | {"Parameter"}:
                self.skip(where, child)
        type_param = fields_by_id.pop("type", None)
        kind = self.first_value(type_param)[0] if type_param is not None else None
        if kind not in PHASE_SCHEMAS:
            self.unmapped.append(
                f"{where}: phase type {kind or 'not given'}: read as an instruction; parameters not mapped: "
                + (", ".join(sorted(fields_by_id)) or "none")
            )
            return {"id": local_id, "name": name, "type": "instruction", "text": name}
        schema = phase_schema(kind)
        out: dict[str, Any] = {"id": local_id, "name": name, "type": kind}
        for ident, parameter in fields_by_id.items():
            out[ident] = self.field_value(parameter, schema.fields.get(ident))
        return out

    def field_value(self, parameter: etree._Element, field: fields.Field[Any] | None) -> Any:
        items = _kids(parameter, "Parameter")
        values = _kids(parameter, "Value")
        if items and not values:
            return [
                {(_text(f, "ID") or ""): self.field_value(f, None) for f in _kids(item, "Parameter")} for item in items
            ]
        if not values:
            return [] if isinstance(field, fields.List) else None
        texts = [(v.text or "") for v in _kids(values[0], "ValueString")]
        if _text(values[0], "DataInterpretation") == "Reference":
            return {"param": texts[0]}
        if _text(values[0], "DataType") == "boolean":
            return texts[0] == "true"
        if _text(values[0], "DataType") == "integer":
            return int(texts[0]) if texts[0].lstrip("-").isdigit() else texts[0]
        return texts if isinstance(field, fields.List) else texts[0]

    def transitions(
        self, logic: etree._Element, ids: dict[str, str], ends: set[str], where: str
    ) -> list[dict[str, Any]]:
        into: dict[str, list[str]] = {}
        out_of: dict[str, list[str]] = {}
        for link in _kids(logic, "Link"):
            source = next((_text(f, "FromIDValue") for f in _kids(link, "FromID")), None)
            target = next((_text(t, "ToIDValue") for t in _kids(link, "ToID")), None)
            if source and target:
                into.setdefault(target, []).append(source)
                out_of.setdefault(source, []).append(target)
        result = []
        for transition in _kids(logic, "Transition"):
            tid = _text(transition, "ID") or ""
            sources = [ids[s] for s in into.get(tid, []) if s in ids and s not in ends]
            targets = [ids[t] for t in out_of.get(tid, []) if t in ids and t not in ends]
            condition = _text(transition, "Condition")
            if not sources or not targets:
                # From Begin or to End: implied by our graph (first step starts, last one ends).
                if condition and condition.upper() != TRUE:
                    self.unmapped.append(
                        f"{where}/Transition[{tid}]: condition {condition!r} at the start or end of the "
                        "procedure not mapped"
                    )
                continue
            entry: dict[str, Any] = {"from": sources, "to": targets}
            if condition and condition.upper() != TRUE:
                entry["when"] = condition
            result.append(entry)
        return result
