"""Writes the third-party master recipes of this folder (run: ``python -m tests.data.batchml.generate``).

The shape is the one a third-party recipe tool exports (issue 19): MasterRecipe
``ID`` a number, an empty product name, a batch size with only its nominal value;
Begin and End steps at every level, beside the Procedure too; parallel branches
drawn with link junctions (a link from a link, a link into a link); conditions
written as ``<step>.State = Complete``; 36 phases with 51 parameters of their own,
three of them materials (20 kg, 20 kg, 1 kL), the others numbers with units;
``OtherInformation`` on some phases. The same recipe is written in the V02
namespace and in V0701 (valid against the V0701 schema).
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

NAMESPACES = {"v02": "http://www.wbf.org/xml/BatchML-V02", "v0701": "http://www.mesa.org/xml/B2MML"}
HERE = Path(__file__).parent

# (operation, unit procedure, phases: (name, parameters: (id, description, value, unit, kind)))
P = tuple[str, str, str, str, str]
OPERATIONS: list[tuple[str, int, list[tuple[str, list[P]]]]] = [
    ("Prepare the tank", 0, [
        ("Check tank clean", [("HoldTime", "Drain time", "5", "min", "real")]),
        ("Start agitator", [("Speed", "Agitator speed", "120", "rpm", "integer"),
                            ("Ramp", "Ramp time", "30", "s", "integer")]),
        ("Heat jacket", [("Setpoint", "Jacket temperature", "25.0", "°C", "real"),
                         ("Rate", "Heating rate", "0.5", "K/min", "real")]),
        ("Confirm ready", [("Pressure", "Tank pressure", "1.013", "bar", "real")]),
    ]),
    ("Charge water", 0, [
        ("Charge WFI", [("Water", "Water for injection", "1", "kL", "material"),
                        ("Flow", "Charge flow", "50", "L/min", "real")]),
        ("Check level", [("Level", "Minimum level", "950", "L", "real")]),
        ("Cool water", [("Temperature", "Water temperature", "20.0", "°C", "real"),
                        ("Duration", "Cooling time", "15", "min", "integer")]),
    ]),
    ("Dissolve salts", 0, [
        ("Add phosphate", [("NaPhosphate", "Disodium hydrogen phosphate", "20", "kg", "material"),
                           ("Speed", "Agitator speed", "150", "rpm", "integer")]),
        ("Add chloride", [("NaCl", "Sodium chloride", "20", "kg", "material"),
                          ("Duration", "Addition time", "10", "min", "integer")]),
        ("Dissolve", [("Duration", "Dissolution time", "30", "min", "integer"),
                      ("Temperature", "Temperature", "25.0", "°C", "real")]),
    ]),
    ("Adjust pH", 0, [
        ("Sample pH", [("Volume", "Sample volume", "50", "mL", "real")]),
        ("Add acid", [("Acid", "Phosphoric acid amount", "0.25", "kg", "real"),
                      ("Dose", "Dosing rate", "0.5", "kg/h", "real")]),
        ("Add base", [("Base", "Sodium hydroxide amount", "0.10", "kg", "real")]),
        ("Confirm pH", [("Target", "Target pH", "7.40", "pH", "real"),
                        ("Low", "Lowest pH", "7.30", "pH", "real")]),
    ]),
    ("Make up and mix", 0, [
        ("Top up", [("Volume", "Final volume", "1000", "L", "real")]),
        ("Mix", [("Duration", "Mixing time", "20", "min", "integer"),
                 ("Speed", "Agitator speed", "100", "rpm", "integer")]),
        ("Hold", [("Duration", "Hold time", "1.5", "h", "real")]),
    ]),
    ("Prepare the filter", 1, [
        ("Flush filter", [("Volume", "Flush volume", "20", "L", "real")]),
        ("Integrity test", [("Pressure", "Test pressure", "2.5", "bar", "real"),
                            ("Duration", "Test time", "10", "min", "integer")]),
        ("Drain filter", [("Duration", "Drain time", "5", "min", "integer")]),
    ]),
    ("Filter", 1, [
        ("Start pump", [("Flow", "Pump flow", "40", "L/min", "real")]),
        ("Filter buffer", [("Pressure", "Maximum pressure", "1.5", "bar", "real"),
                           ("Duration", "Filtration time", "30", "min", "integer")]),
        ("Stop pump", [("Ramp", "Ramp down", "10", "s", "integer")]),
    ]),
    ("Fill bags", 1, [
        ("Prepare bags", [("Count", "Bags", "10", "pcs", "integer")]),
        ("Fill first bag", [("Volume", "Fill volume", "100", "L", "real")]),
        ("Fill second bag", [("Volume", "Fill volume", "100", "L", "real")]),
        ("Seal bags", [("Temperature", "Sealing temperature", "180", "°C", "real"),
                       ("Duration", "Seal time", "3", "s", "integer")]),
    ]),
    ("Sample", 1, [
        ("Take sample", [("Volume", "Sample volume", "100", "mL", "real")]),
        ("Label sample", [("Count", "Labels", "2", "pcs", "integer")]),
        ("Store sample", [("Temperature", "Storage temperature", "5.0", "°C", "real")]),
    ]),
    ("Clean the line", 1, [
        ("Rinse", [("Volume", "Rinse volume", "50", "L", "real"),
                   ("Temperature", "Rinse temperature", "80", "°C", "real")]),
        ("Caustic wash", [("Concentration", "NaOH concentration", "2", "%", "real"),
                          ("Duration", "Wash time", "20", "min", "integer")]),
        ("Final rinse", [("Volume", "Rinse volume", "50", "L", "real")]),
    ]),
    ("Release the line", 1, [
        ("Dry line", [("Pressure", "Air pressure", "300", "mbar", "real")]),
        ("Inspect", [("Duration", "Inspection time", "5", "min", "integer")]),
        ("Close batch", [("Duration", "Documentation time", "10", "min", "integer")]),
    ]),
]  # fmt: skip

UNIT_PROCEDURES = [
    ("UP_PREP", "Buffer preparation in T-200", "mixing_tank", "T-200"),
    ("UP_FILL", "Filtration and filling on F-300", "filling_line", "F-300"),
]


class Writer:
    """Builds one document; ids are numbered the way the tool numbers them."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.counts = {"S": 0, "T": 0, "L": 0, "B": 0}

    def sub(self, parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{self.ns}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    def next(self, kind: str) -> str:
        self.counts[kind] += 1
        return f"{kind}{self.counts[kind]}"

    def element(self, parent: etree._Element, ident: str, kind: str, description: str | None = None) -> etree._Element:
        element = self.sub(parent, "RecipeElement")
        self.sub(element, "ID", ident)
        if description:
            self.sub(element, "Description", description)
        self.sub(element, "RecipeElementType", kind)
        return element

    def link(self, logic: etree._Element, source: tuple[str, str], target: tuple[str, str]) -> str:
        lid = self.next("L")
        link = self.sub(logic, "Link")
        self.sub(link, "ID", lid)
        for side, (kind, value) in (("From", source), ("To", target)):
            end = self.sub(link, f"{side}ID")
            self.sub(end, f"{side}IDValue", value)
            self.sub(end, f"{side}Type", kind)
            self.sub(end, "IDScope", "Internal")
        self.sub(link, "LinkType", "ControlLink")
        self.sub(link, "Depiction", "LineAndArrow")
        return lid

    def logic(self, parent: etree._Element, prefix: str, children: list[str], parallel: bool = False) -> None:
        """Begin → children → End; with ``parallel`` the 2nd and 3rd child run side by side (junctions)."""
        logic = self.sub(parent, "ProcedureLogic")
        steps = [(self.next("S"), f"{prefix}.B")]
        steps += [(self.next("S"), child) for child in children]
        steps.append((self.next("S"), f"{prefix}.E"))
        transitions: list[tuple[str, str]] = []
        ids = [s for s, _ in steps]
        n = 0
        while n < len(ids) - 1:
            tid = self.next("T")
            source = ids[n]
            condition = "TRUE" if n == 0 else f"{steps[n][1].rsplit('.', 1)[-1]}.State = Complete"
            if parallel and n == 1:
                a, b, after = ids[2], ids[3], ids[4]
                self.link(logic, ("Step", source), ("Transition", tid))
                split = self.link(logic, ("Transition", tid), ("Step", a))
                self.link(logic, ("Link", split), ("Step", b))  # a branch off the link: junction
                transitions.append((tid, condition))
                join = self.next("T")
                into = self.link(logic, ("Step", a), ("Transition", join))
                self.link(logic, ("Step", b), ("Link", into))  # joins into the link: junction
                self.link(logic, ("Transition", join), ("Step", after))
                transitions.append((join, "TRUE"))
                n = 4
                continue
            self.link(logic, ("Step", source), ("Transition", tid))
            self.link(logic, ("Transition", tid), ("Step", ids[n + 1]))
            transitions.append((tid, condition))
            n += 1
        for sid, element_id in steps:
            step = self.sub(logic, "Step")
            self.sub(step, "ID", sid)
            self.sub(step, "RecipeElementID", element_id)
            self.sub(step, "RecipeElementVersion", "1")
        for tid, condition in transitions:
            transition = self.sub(logic, "Transition")
            self.sub(transition, "ID", tid)
            self.sub(transition, "Condition", condition)

    def begin_end(self, parent: etree._Element, prefix: str) -> None:
        self.element(parent, f"{prefix}.B", "Begin")
        self.element(parent, f"{prefix}.E", "End")

    def parameter(self, parent: etree._Element, p: P) -> None:
        ident, description, value, unit, kind = p
        element = self.sub(parent, "Parameter")
        self.sub(element, "ID", ident)
        self.sub(element, "Description", description)
        self.sub(element, "ParameterType", "ProcessInput" if kind == "material" else "ProcessParameter")
        holder = self.sub(element, "Value")
        self.sub(holder, "ValueString", value)
        self.sub(holder, "DataInterpretation", "Constant")
        real = "real" if self.ns == NAMESPACES["v02"] else "float"  # V0701 has no "real"
        self.sub(holder, "DataType", real if kind in ("material", "real") else kind)
        self.sub(holder, "UnitOfMeasure", unit)


def document(version: str) -> bytes:
    w = Writer(NAMESPACES[version])
    root = etree.Element(f"{{{w.ns}}}BatchInformation", nsmap={None: w.ns})
    master = w.sub(root, "MasterRecipe")
    w.sub(master, "ID", "1")
    w.sub(master, "Version", "3")
    w.sub(master, "Description", "Phosphate buffer pH 7.4, 1000 L (exported by RecipeTool 5.2)")
    header = w.sub(master, "Header")
    w.sub(header, "ProductID", "BUF-PB74")
    w.sub(header, "ProductName", "")
    size = w.sub(header, "BatchSize")
    w.sub(size, "Nominal", "1000", unitCode="L")
    w.sub(size, "UnitOfMeasure", "L")
    w.logic(master, "1", ["1.P"])
    w.element(master, "1.B", "Begin")
    procedure = w.element(master, "1.P", "Procedure", "Phosphate buffer")
    w.element(master, "1.E", "End")
    w.logic(procedure, "1.P", [up[0] for up in UNIT_PROCEDURES])
    w.begin_end(procedure, "1.P")
    phase_no = 0
    for u, (up_id, up_name, unit_class, unit) in enumerate(UNIT_PROCEDURES):
        up = w.element(procedure, up_id, "UnitProcedure", up_name)
        requirement = w.sub(up, "EquipmentRequirement")
        w.sub(requirement, "ID", unit_class)
        constraint = w.sub(requirement, "Constraint")
        w.sub(constraint, "ID", "unit")
        w.sub(constraint, "Condition", unit)
        operations = [(n, op) for n, op in enumerate(OPERATIONS, start=1) if op[1] == u]
        w.logic(up, up_id, [f"OP{n:02d}" for n, _ in operations])
        w.begin_end(up, up_id)
        for n, (op_name, _, phases) in operations:
            op = w.element(up, f"OP{n:02d}", "Operation", op_name)
            ids = [f"PH{phase_no + k:02d}" for k in range(1, len(phases) + 1)]
            w.logic(op, f"OP{n:02d}", ids, parallel=len(phases) == 4)
            w.begin_end(op, f"OP{n:02d}")
            for phase_id, (phase_name, parameters) in zip(ids, phases, strict=True):
                phase = w.element(op, phase_id, "Phase", phase_name)
                for p in parameters:
                    w.parameter(phase, p)
                if phase_id.endswith("5"):
                    other = w.sub(phase, "OtherInformation")
                    w.sub(other, "ID", "Comment")
                    w.sub(other, "Description", "Reviewed 2019")
            phase_no += len(phases)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data


def main() -> None:
    for version in NAMESPACES:
        (HERE / f"third-party-{version}.xml").write_bytes(document(version))


if __name__ == "__main__":
    main()
