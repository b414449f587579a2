"""Formula and phases of a BatchML master recipe in our terms (pure; used by ``batchml_import``).

* ``Formula/Parameter``: ``ProcessParameter`` → a formula parameter (name in
  lower_snake_case, value, unit, ``Scaled``, low/high/precision children),
  ``ProcessInput`` → a line of the bill of materials.
* A phase with our ``type`` parameter is read back field by field (our export).
* A phase of another system becomes an instruction that carries its description;
  each of its parameters is kept: a material input (``ProcessInput``) with a
  quantity becomes a line of the bill of materials, a number with a unit a formula
  parameter named ``<phase>_<parameter>`` (its description names the phase, the
  parameter and its data type), a reference, a number without a unit or a text a
  line of the instruction. The instruction's text names each one.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from marshmallow import fields

from ebr.core.inputs import number_problem
from recipes.batchml_logic import Report, kids, local, not_mapped, text
from recipes.schema import PHASE_SCHEMAS, TEXT_MAX, phase_schema
from recipes.units import problem as unit_problem

NUMERIC = {
    *("decimal", "real", "float", "double", "integer", "int", "long", "short", "number", "numeric"),
    *("measure", "quantity", "amount", "positiveinteger", "nonnegativeinteger", "unsignedint", "unsignedshort"),
}
PHASE_KNOWN = {"ID", "Description", "RecipeElementType", "Parameter"}
PARAMETER_KNOWN = {"ID", "Description", "ParameterType", "Value", "Scaled", "Parameter"}


def snake(raw: str) -> str:
    """``WaterVolume`` → ``water_volume``: a formula parameter name (lower_snake_case)."""
    name = re.sub(r"[^a-z0-9_]+", "_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", raw).lower()).strip("_")
    name = re.sub(r"_+", "_", name)
    return (name if re.match(r"^[a-z]", name) else f"p_{name}".rstrip("_"))[:60]


class PhaseReader:
    """Collects the formula parameters and materials while the phases are read."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.parameters: list[dict[str, Any]] = []
        self.materials: list[dict[str, Any]] = []
        self.yields: dict[str, dict[str, Any]] = {}

    def parameter_names(self) -> set[str]:
        return {str(p["name"]) for p in self.parameters}

    # -- the formula ------------------------------------------------------------------------

    def formula(self, formula: etree._Element, where: str) -> None:
        for child in kids(formula):
            if local(child) != "Parameter":
                self.report.note(f"{where}/{local(child)}", not_mapped(child))
                continue
            ident = text(child, "ID") or "?"
            kind = text(child, "ParameterType")
            value, unit = self.first_value(child, f"{where}/Parameter[{ident}]")
            at = f"{where}/Parameter[{ident}]"
            self.report.others(child, at, PARAMETER_KNOWN)
            if kind == "ProcessInput":
                line: dict[str, Any] = {"code": ident, "name": text(child, "Description") or ident}
                line.update(quantity=value, unit=unit, scaled=text(child, "Scaled") != "No")
                known = ("tolerance", "tolerance_unit", "precision", "reconciliation", "reconciliation_unit")
                line.update(self.children(child, at, known))
                self.materials.append(line)
            elif kind == "ProcessOutput" and (ident == "yield" or ident.startswith("yield.")):
                spec: dict[str, Any] = {"theoretical": value, "unit": unit}
                if kids(child, "Value") and text(kids(child, "Value")[0], "DataInterpretation") == "Reference":
                    spec["theoretical"] = {"param": value}
                spec.update(self.children(child, at, ("actual", "low", "high")))
                self.yields["batch" if ident == "yield" else ident.partition(".")[2]] = spec
            elif kind == "ProcessParameter":
                name = snake(ident)
                if name != ident:
                    self.report.note(at, f"renamed to {name} (parameter names are lower_snake_case)")
                entry = {"name": name, "value": value, "unit": unit, "scaled": text(child, "Scaled") == "Yes"}
                described = kids(child, "Description")
                if described and described[0].text:  # free text: kept exactly as written
                    entry["description"] = described[0].text
                entry.update(self.children(child, at, ("low", "high", "precision")))
                self.parameters.append(entry)
            else:
                self.report.note(
                    at,
                    f"ParameterType {kind}: {not_mapped(child)} "
                    "(only ProcessInput, ProcessParameter and the ProcessOutput yield map)",
                )

    def first_value(self, parameter: etree._Element, where: str) -> tuple[str | None, str | None]:
        values = kids(parameter, "Value")
        if not values:
            return None, None
        if len(values) > 1:
            self.report.note(f"{where}/Value", f"{len(values) - 1} further Value(s) not mapped")
        return text(values[0], "ValueString"), text(values[0], "UnitOfMeasure") or None

    def children(self, parameter: etree._Element, where: str, known: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in kids(parameter, "Parameter"):
            ident = text(child, "ID") or "?"
            if ident in known:
                out[ident] = self.first_value(child, f"{where}/Parameter[{ident}]")[0]
            else:
                self.report.note(f"{where}/Parameter[{ident}]", not_mapped(child))
        return out

    # -- phases -----------------------------------------------------------------------------

    def phase(self, element: etree._Element, lid: str, name: str, where: str) -> dict[str, Any]:
        by_id: dict[str, etree._Element] = {}
        for p in kids(element, "Parameter"):
            pid = text(p, "ID") or ""
            if pid in by_id:
                self.report.problem(f"{where}/Parameter[{pid}]", "two parameters with this ID")
            by_id[pid] = p
        self.report.others(element, where, PHASE_KNOWN)
        type_param = by_id.get("type")
        kind = self.first_value(type_param, where)[0] if type_param is not None else None
        if kind in PHASE_SCHEMAS:
            del by_id["type"]
            schema = phase_schema(kind)
            out: dict[str, Any] = {"id": lid, "name": name, "type": kind}
            for ident, parameter in by_id.items():
                out[ident] = self.field_value(parameter, schema.fields.get(ident), f"{where}/Parameter[{ident}]")
            return out
        self.report.note(where, "phase of another system read as an instruction; its parameters as listed in it")
        lines = [self.foreign_parameter(p, pid, lid, name, f"{where}/Parameter[{pid}]") for pid, p in by_id.items()]
        body = "\n".join([name, *[line for line in lines if line]])
        if len(body) > TEXT_MAX:
            self.report.note(where, f"instruction text cut at {TEXT_MAX} characters")
            body = body[:TEXT_MAX]
        return {"id": lid, "name": name, "type": "instruction", "text": body}

    def foreign_parameter(self, parameter: etree._Element, pid: str, lid: str, phase: str, at: str) -> str | None:
        """One parameter of another system's phase, kept somewhere; the line it adds to the instruction."""
        label = text(parameter, "Description") or pid
        values = kids(parameter, "Value")
        self.report.others(parameter, at, PARAMETER_KNOWN - {"Scaled"})
        for _ in values[1:]:
            self.report.note(f"{at}/Value", "further Value not mapped")
        for child in kids(parameter, "Parameter"):
            self.report.note(f"{at}/Parameter[{text(child, 'ID')}]", f"nested parameter {not_mapped(child)}")
        strings = [(v.text or "").strip() for v in kids(values[0], "ValueString")] if values else []
        if not strings:
            self.report.note(at, not_mapped(parameter))
            return None
        value, unit = strings[0], (text(values[0], "UnitOfMeasure") or None)
        if len(strings) > 1:
            self.report.note(f"{at}/Value/ValueString", f"{len(strings) - 1} further ValueString(s) not mapped")
        data_type = (text(values[0], "DataType") or "").strip()
        if text(values[0], "DataInterpretation") == "Reference":
            if snake(value) in self.parameter_names() or value in {m["code"] for m in self.materials}:
                target = snake(value) if snake(value) in self.parameter_names() else value
                return f"{label}: {target} (reference to the formula)"
            self.report.note(at, "reference to something not in the formula kept in the instruction text")
            return f"{label}: {value} (reference)"
        numeric = data_type.lower() in NUMERIC or (not data_type and number_problem(value) is None)
        if not numeric or unit is None:
            what = "number without a unit" if numeric else f"{data_type or 'text'} parameter"
            self.report.note(at, f"{what} kept in the instruction text")
            return f"{label}: {value}"
        if number_problem(value):
            self.report.problem(f"{at}/Value/ValueString", str(number_problem(value)))
            return None
        if unit_problem(unit):
            self.report.problem(f"{at}/Value/UnitOfMeasure", str(unit_problem(unit)))
            return None
        if text(parameter, "ParameterType") == "ProcessInput":
            code = self._unique(pid, {m["code"] for m in self.materials}, f"{lid}-{pid}")
            self.materials.append({"code": code, "name": label[:200], "quantity": value, "unit": unit})
            return f"{label}: {value} {unit} (material {code})"
        name = self._unique(snake(f"{lid}_{pid}"), self.parameter_names(), snake(f"{lid}_{pid}_{len(self.parameters)}"))
        description = f"{phase}: {label} ({data_type or 'decimal'})"[:4000]
        self.parameters.append({"name": name, "value": value, "unit": unit, "description": description})
        return f"{label}: {value} {unit} (formula parameter {name})"

    @staticmethod
    def _unique(wanted: str, taken: set[str], other: str) -> str:
        return wanted if wanted not in taken else other

    def field_value(self, parameter: etree._Element, field: fields.Field[Any] | None, at: str) -> Any:
        items = kids(parameter, "Parameter")
        values = kids(parameter, "Value")
        if items and not values:
            return [
                {(text(f, "ID") or ""): self.field_value(f, None, f"{at}/Parameter") for f in kids(item, "Parameter")}
                for item in items
            ]
        if not values:
            return [] if isinstance(field, fields.List) else None
        texts = [(v.text or "") for v in kids(values[0], "ValueString")]
        if not texts:
            self.report.problem(f"{at}/Value", "no ValueString: give the value")
            return None
        if text(values[0], "DataInterpretation") == "Reference":
            return {"param": texts[0]}
        if text(values[0], "DataType") == "boolean":
            if texts[0] not in ("true", "false"):
                self.report.problem(f"{at}/Value/ValueString", f"{texts[0][:40]!r} is not true or false")
            return texts[0] == "true"
        if text(values[0], "DataType") == "integer":
            return int(texts[0]) if re.fullmatch(r"-?[0-9]{1,9}", texts[0]) else texts[0]
        return texts if isinstance(field, fields.List) else texts[0]
