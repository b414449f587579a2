"""BatchML master recipes in: V0701 (validated against its schema) and the older V02 namespace.

The document passes the input boundary (``ebr.core.inputs.parse_xml``: no DTD, no
entities, no network, size and element limits) and is read by element type, not by
nesting depth: a ``Procedure`` element may stand beside Begin and End steps, unit
procedures, operations and phases are found by their ``RecipeElementType``, and a
level that skips one (phases right under a unit procedure) gets a container of its
own, said in the report. The step graph of every level is read by
``recipes.batchml_logic`` (Begin/End steps, link junctions, conditions).

Phases written by other systems (without our ``type`` parameter) become
instructions; their numeric parameters become formula parameters (name, value,
data type, unit), their material inputs lines of the bill of materials, and their
text parameters lines of the instruction. The result goes through the same checks
as YAML (``recipes.authoring.parse_document``). What has no place in our model is
listed in :attr:`Imported.unmapped`, one line per kind of thing with the path and
id of each element (``MasterRecipe[X]/RecipeElement[UP1]/OtherInformation: not
mapped``), repeats grouped with their count; nothing is dropped without a line.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree
from marshmallow import ValidationError as SchemaError

from ebr.core import inputs
from ebr.core.inputs import DEFAULT, Limits
from recipes.authoring import RecipeInvalid, parse_document
from recipes.batchml import NS, NS_V02, schema_problems
from recipes.batchml_logic import LevelLogic, Report, kids, local, not_mapped, text
from recipes.batchml_phases import PhaseReader
from recipes.model import Recipe
from recipes.schema import RECIPE_NAME

FORMATS = {NS: "BatchML V0701", NS_V02: "BatchML V02"}
LEVELS = ("UnitProcedure", "Operation", "Phase")
MASTER_KNOWN = {"ID", "Version", "Description", "Header", "Formula", "ProcedureLogic", "RecipeElement"}
ELEMENT_KNOWN = {"ID", "Description", "RecipeElementType", "ProcedureLogic", "RecipeElement"}
MAX_LISTED = 20


@dataclass(frozen=True)
class Imported:
    """One master recipe read from BatchML, with what could not be mapped."""

    recipe: Recipe
    version: str | None
    format: str
    unmapped: tuple[str, ...]


def read_batchml(data: bytes, *, source: str = "document", limits: Limits = DEFAULT) -> list[Imported]:
    """Every master recipe in a BatchML document; raises ``RecipeInvalid`` listing every problem."""
    try:
        tree = inputs.parse_xml(data, source, limits=limits)
    except inputs.InputError as exc:
        raise RecipeInvalid(str(exc)) from None
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
    masters = [root] if local(root) == "MasterRecipe" else kids(root, "MasterRecipe")
    if not masters:
        raise RecipeInvalid(f"{source} holds no MasterRecipe", [f"{local(root)}: no MasterRecipe element"])
    outer = [(f"{local(root)}/{local(c)}", not_mapped(c)) for c in kids(root) if local(c) != "MasterRecipe"]
    results, problems = [], []
    for master in masters:
        reader = _Reader(master)
        document = reader.document()
        if reader.report.problems:
            problems += reader.report.problems
            continue
        try:
            recipe = parse_document(document, source=f"{source} MasterRecipe[{reader.ident}]")
        except RecipeInvalid as exc:
            problems += [f"MasterRecipe[{reader.ident}]: {p}" for p in exc.problems] or [exc.summary]
            continue
        lines = grouped([*outer, *reader.report.unmapped])
        results.append(Imported(recipe, text(master, "Version"), FORMATS[namespace], lines))
    if problems:
        raise RecipeInvalid(f"{source} has {len(problems)} problem(s); nothing was imported", problems)
    return results


def grouped(entries: list[tuple[str, str]]) -> tuple[str, ...]:
    """``where: what`` lines; a ``what`` said of several places is one line with the count and the places."""
    by_what: dict[tuple[str, str], list[str]] = {}
    for where, what in entries:
        # Repeats: the same finding on elements of the same kind (ids aside).
        by_what.setdefault((re.sub(r"\[[^\]]*\]", "[]", where), what), []).append(where)
    lines = []
    for (_, what), wheres in by_what.items():
        if len(wheres) == 1:
            lines.append(f"{wheres[0]}: {what}")
            continue
        listed = ", ".join(wheres[:MAX_LISTED])
        more = f" and {len(wheres) - MAX_LISTED} more" if len(wheres) > MAX_LISTED else ""
        lines.append(f"{what} ({len(wheres)}×): {listed}{more}")
    return tuple(lines)


def local_id(raw: str) -> str:
    """A step id of ours from a foreign id: its last dotted segment, other characters made ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", raw.rsplit(".", 1)[-1])[:39]
    return cleaned if re.match(r"^[A-Za-z]", cleaned) else f"S{cleaned}"[:40]


def _kind(element: etree._Element) -> str:
    kind = text(element, "RecipeElementType") or ""
    return "UnitProcedure" if kind == "UnitRecipe" else kind


class _Reader:
    """Reads one MasterRecipe into the authoring dict, collecting what it cannot map."""

    def __init__(self, master: etree._Element) -> None:
        self.master = master
        self.ident = text(master, "ID") or "?"
        self.where = f"MasterRecipe[{self.ident}]"
        self.report = Report()
        self.phases = PhaseReader(self.report)
        self.names: set[str] = set()

    def document(self) -> dict[str, Any]:
        descriptions = [d.text or "" for d in kids(self.master, "Description")]
        header = kids(self.master, "Header")
        doc: dict[str, Any] = self.header(header[0] if header else None, f"{self.where}/Header")
        doc["name"] = self.identity(doc["product"])
        doc["title"] = descriptions[0] if descriptions and descriptions[0].strip() else doc["product"]["name"]
        if len(descriptions) > 1:
            doc["description"] = "\n".join(descriptions[1:])
        for child in kids(self.master, "Formula"):
            self.phases.formula(child, f"{self.where}/Formula")
        self.report.others(self.master, self.where, MASTER_KNOWN, descriptions=len(descriptions))
        container, where = self.procedure()
        doc["unit_procedures"], doc["transitions"] = self.level(container, where, 0)
        doc["formula"] = {"parameters": self.phases.parameters}
        doc["bill_of_materials"] = {"materials": self.phases.materials}
        self.attach_yields(doc)
        return doc

    def attach_yields(self, doc: dict[str, Any]) -> None:
        """The ProcessOutput yields onto the batch and their unit procedures (an unknown one is reported)."""
        found = dict(self.phases.yields)
        if "batch" in found:
            doc["yield"] = found.pop("batch")
        for up in doc["unit_procedures"]:
            if up["id"] in found:
                up["yield"] = found.pop(up["id"])
        for scope in found:
            self.report.problem(f"{self.where}/Formula/Parameter[yield.{scope}]", f"names no unit procedure {scope!r}")

    def identity(self, product: dict[str, str]) -> str:
        """Our name: the MasterRecipe ID when it is a name (not a number), else the product's code."""
        if _is_name(self.ident) and re.search(r"[A-Za-z]", self.ident):
            return self.ident
        for field, value in (("Header/ProductID", product["code"]), ("Header/ProductName", product["name"])):
            candidate = re.sub(r"[^A-Za-z0-9_.-]+", "-", value).strip("-.")[:100]
            if _is_name(candidate):
                self.report.note(
                    f"{self.where}/ID",
                    f"{self.ident!r} is not a recipe name; named {candidate!r} after {field} (choose with --name)",
                )
                return candidate
        self.report.problem(
            f"{self.where}/ID", f"{self.ident!r} is not a recipe name and there is no product: use --name"
        )
        return "unnamed"

    def procedure(self) -> tuple[etree._Element, str]:
        """The element whose children are the unit procedures (the master or its Procedure), and their level."""
        elements = [e for e in kids(self.master, "RecipeElement") if _kind(e) not in ("Begin", "End")]
        procedures = [e for e in elements if _kind(e) == "Procedure"]
        if len(procedures) == 1 and len(elements) == 1:
            self.procedure_logic(procedures[0])
            where = f"{self.where}/RecipeElement[{text(procedures[0], 'ID')}]"
            self.report.others(procedures[0], where, ELEMENT_KNOWN)
            return procedures[0], where
        if len(procedures) > 1:
            self.report.problem(self.where, f"{len(procedures)} Procedure elements; a master recipe has one")
        return self.master, self.where

    def procedure_logic(self, procedure: etree._Element) -> None:
        """The master's own logic around its one Procedure: Begin → Procedure → End, nothing to keep."""
        ident = text(procedure, "ID") or ""
        ends = {text(e, "ID") or "" for e in kids(self.master, "RecipeElement") if _kind(e) in ("Begin", "End")}
        where = f"{self.where}/ProcedureLogic"

        def element_of_step(step_id: str, element_id: str) -> str | None:
            if element_id == ident:
                return "PROCEDURE"
            if element_id not in ends | {"Begin", "End"}:
                self.report.problem(
                    f"{where}/Step[{step_id}]", f"RecipeElementID {element_id!r} names no RecipeElement"
                )
            return None

        for logic in kids(self.master, "ProcedureLogic"):
            graph = LevelLogic(logic, where, self.report).read(element_of_step, set)
            if graph.transitions:
                self.report.note(where, "transitions around the Procedure not mapped")

    def level(self, container: etree._Element, where: str, depth: int) -> tuple[list[dict[str, Any]], list[Any]]:
        """The children of ``container`` that sit at ``depth`` (0 unit procedures, 1 operations, 2 phases)."""
        children = [e for e in kids(container, "RecipeElement") if _kind(e) not in ("Begin", "End")]
        begin_end = {
            text(e, "ID") or "": _kind(e) for e in kids(container, "RecipeElement") if _kind(e) in ("Begin", "End")
        }
        wanted = LEVELS[depth]
        kinds = {_kind(e) for e in children}
        deeper = LEVELS[depth + 1 :]
        if children and depth < 2 and kinds and kinds <= set(deeper):
            self.report.note(
                where,
                f"{', '.join(sorted(kinds))} where a {wanted} belongs: put in a {wanted} of its own"
                + (" (unit class 'unspecified')" if depth == 0 else ""),
            )
            return [self.wrapper(container, where, depth)], []
        ids: dict[str, str] = {}
        taken: set[str] = set()
        elements: dict[str, etree._Element] = {}
        for e in children:
            eid = text(e, "ID") or ""
            if eid in elements:
                self.report.problem(
                    f"{where}/RecipeElement[{eid}]", "two RecipeElements with this ID; IDs must be unique"
                )
            base = lid = local_id(eid or "X")
            for n in itertools.count(2):
                if lid not in taken:
                    break
                lid = f"{base[:32]}_{n}"
            ids[eid], elements[eid] = lid, e
            taken.add(lid)
            if _kind(e) != wanted:
                self.report.note(
                    f"{where}/RecipeElement[{eid}]",
                    f"a {_kind(e) or 'element without type'} where a {wanted} belongs; read as a {wanted}",
                )

        def element_of_step(step_id: str, element_id: str) -> str | None:
            if element_id in ids:
                return ids[element_id]
            if element_id in begin_end or element_id in ("Begin", "End"):
                return None
            self.report.problem(
                f"{where}/ProcedureLogic/Step[{step_id}]", f"RecipeElementID {element_id!r} names no RecipeElement here"
            )
            return None

        logic = kids(container, "ProcedureLogic")
        if logic:
            graph = LevelLogic(logic[0], f"{where}/ProcedureLogic", self.report).read(
                element_of_step, lambda: self.names | set(ids.values()) | self.phases.parameter_names()
            )
            order, transitions = graph.order, graph.transitions
        else:
            order, transitions = [], []
        order += [lid for lid in ids.values() if lid not in order]
        by_local = {ids[eid]: eid for eid in ids}
        items = [
            self.element(elements[by_local[lid]], lid, f"{where}/RecipeElement[{by_local[lid]}]", depth)
            for lid in order
        ]
        if transitions == [{"from": [a["id"]], "to": [b["id"]]} for a, b in itertools.pairwise(items)]:
            transitions = []  # the implicit sequence, written out
        return items, transitions

    def wrapper(self, container: etree._Element, where: str, depth: int) -> dict[str, Any]:
        name = text(container, "Description") or text(container, "ID") or LEVELS[depth]
        ident = f"{'UP' if depth == 0 else 'OP'}1"
        out: dict[str, Any] = {"id": ident, "name": name}
        if depth == 0:
            out["equipment"] = {"unit_class": "unspecified"}
        key = "operations" if depth == 0 else "phases"
        out[key], out["transitions"] = self.level(container, where, depth + 1)
        return out

    def element(self, element: etree._Element, lid: str, where: str, depth: int) -> dict[str, Any]:
        name = (text(element, "Description") or text(element, "ID") or lid)[:200]
        if depth == 2:
            phase = self.phases.phase(element, lid, name, where)
            self.names.add(lid)
            return phase
        out: dict[str, Any] = {"id": lid, "name": name}
        for child in kids(element):
            tag = _local_tag(child)
            if tag == "EquipmentRequirement" and depth == 0 and "equipment" not in out:
                out["equipment"] = self.equipment(child, f"{where}/EquipmentRequirement")
            elif tag == "Parameter":
                self.report.note(
                    f"{where}/Parameter[{text(child, 'ID')}]", f"parameter of a {LEVELS[depth]} {not_mapped(child)}"
                )
            elif tag == "EquipmentRequirement":
                self.report.note(f"{where}/EquipmentRequirement[{text(child, 'ID')}]", "not mapped")
        self.report.others(element, where, ELEMENT_KNOWN | {"Parameter", "EquipmentRequirement"})
        if depth == 0 and "equipment" not in out:
            self.report.note(where, "no EquipmentRequirement: unit class 'unspecified'")
            out["equipment"] = {"unit_class": "unspecified"}
        key = "operations" if depth == 0 else "phases"
        out[key], out["transitions"] = self.level(element, where, depth + 1)
        return out

    def equipment(self, element: etree._Element, where: str) -> dict[str, Any]:
        out: dict[str, Any] = {"unit_class": text(element, "ID") or "unspecified", "capabilities": []}
        for constraint in kids(element, "Constraint"):
            self.constraint(constraint, out, where)
            self.report.others(constraint, f"{where}/Constraint[{text(constraint, 'ID')}]", {"ID", "Condition"})
        self.report.others(element, where, {"ID", "Constraint"})
        return out

    def constraint(self, constraint: etree._Element, out: dict[str, Any], where: str) -> None:
        key, condition = text(constraint, "ID") or "", text(constraint, "Condition") or ""
        if key == "unit":
            out["unit"] = condition
        elif key == "min_capacity":
            amount, _, unit = condition.partition(" ")
            out["min_capacity"], out["capacity_unit"] = amount, unit or None
        else:
            out["capabilities"].append(condition if key == "capability" else f"{key}: {condition}"[:200])

    def header(self, header: etree._Element | None, where: str) -> dict[str, Any]:
        code = (text(header, "ProductID") if header is not None else None) or ""
        name = (text(header, "ProductName") if header is not None else None) or ""
        fallback = text(self.master, "Description") or self.ident
        if not code:
            code = (name or fallback)[:200]
            self.report.note(f"{where}/ProductID", f"empty: product code taken as {code!r}")
        if not name:
            name = code
            self.report.note(f"{where}/ProductName", f"empty: product name taken as {name!r}")
        out: dict[str, Any] = {"product": {"code": code, "name": name[:200]}}
        if header is not None:
            self.report.others(header, where, {"ProductID", "ProductName", "BatchSize"})
        sizes = kids(header, "BatchSize") if header is not None else []
        out["batch_size"] = self.batch_size(sizes[0] if sizes else None, f"{where}/BatchSize")
        return out

    def batch_size(self, size: etree._Element | None, where: str) -> dict[str, Any]:
        values = {tag: (text(size, tag) if size is not None else None) or None for tag in ("Nominal", "Min", "Max")}
        unit = (text(size, "UnitOfMeasure") if size is not None else None) or next(
            (
                c.get("unitCode")
                for tag in ("Nominal", "Min", "Max")
                for c in (kids(size, tag) if size is not None else [])
                if c.get("unitCode")
            ),
            None,
        )
        nominal = values["Nominal"] or values["Max"] or values["Min"]
        if nominal is None:
            self.report.note(where, "empty: batch size 1 pcs (nominal = min = max); set the real size before approval")
            return {"nominal": "1", "min": "1", "max": "1", "unit": unit or "pcs"}
        for tag in ("Nominal", "Min", "Max"):
            if values[tag] is None:
                self.report.note(f"{where}/{tag}", f"empty: taken as {nominal}")
        if not unit:
            self.report.note(f"{where}/UnitOfMeasure", "empty: batch size in pcs")
        if size is not None:
            self.report.others(size, where, {"Nominal", "Min", "Max", "UnitOfMeasure"})
        return {
            "nominal": nominal,
            "min": values["Min"] or nominal,
            "max": values["Max"] or nominal,
            "unit": unit or "pcs",
        }


def _local_tag(element: etree._Element) -> str:
    return local(element)


def _is_name(value: str) -> bool:
    try:
        RECIPE_NAME(value)
    except SchemaError:
        return False
    return True


__all__ = ["FORMATS", "Imported", "grouped", "local_id", "read_batchml"]
