"""The batch production record as BatchML V0701 ``BatchProductionRecord`` (ISA-88.04).

Written from ``record.json`` (the same snapshot as the PDF), validated against
``BatchML-BatchProductionRecord.xsd`` before it is returned. Mapping:

* header: ``ID`` = ``BPR-<batch>``, ``BatchID``, ``LotID`` (output lot),
  ``MaterialDefinitionID`` (product), ``RecordStatus`` (batch status), ``Version``
  (recipe version), ``CreationDate``/``PublishedDate``;
* ``ChangeHistory``: one ``Change`` per correction (original value, reason);
* ``Comments``: one ``Comment`` per deviation (description, handling);
* ``DataSets``: one ``DataSet`` per trend (tag, step, ordered mean values);
* ``Events``: step starts and completions ("Procedural Execution"), every recorded
  value ("Operator"/"Equipment", with the previous value for a correction), every
  material consumption ("Material"/"Consume"), every yield ("Material"/"Produce":
  actual, theoretical as previous value, percentage and limits) and material
  reconciliation ("Material"/"Reconciliation": the balance and its limit), every
  signature with its manifestation ("Operator"/"Security");
* ``PersonnelIdentification``: everyone named in the record.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from lxml import etree

from ebr.core.errors import EbrError

NS = "http://www.mesa.org/xml/B2MML"
SCHEMA_FILE = "BatchML-BatchProductionRecord.xsd"
EQUIPMENT_SOURCES = frozenset({"equipment", "scale"})


class BprError(EbrError):
    """The batch production record does not validate (a bug to report, with the schema's message)."""


def schema_path() -> str:
    """File path of the V0701 BatchProductionRecord schema shipped with the recipes package."""
    return str(resources.files("recipes").joinpath("schemas", "batchml-v0701", SCHEMA_FILE))


@cache
def schema() -> etree.XMLSchema:
    """The compiled V0701 BatchProductionRecord schema (compiled once per process)."""
    return etree.XMLSchema(etree.parse(schema_path()))


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _entry(parent: etree._Element, tag: str, entry_id: str, kind: str, ts: str | None, *descr: str) -> etree._Element:
    element = _sub(parent, tag)
    _sub(element, "EntryID", entry_id)
    _sub(element, "ObjectType", kind)
    if ts:
        _sub(element, "TimeStamp", ts)
    for text in descr:
        if text:
            _sub(element, "Description", text)
    return element


def _value(parent: etree._Element, tag: str, text: str | None, unit: str | None, data_type: str = "string") -> None:
    value = _sub(parent, tag)
    _sub(value, "ValueString", "" if text is None else str(text))
    _sub(value, "DataType", data_type)
    _sub(value, "UnitOfMeasure", unit or "")


def _header(root: etree._Element, r: dict[str, Any]) -> None:
    batch = r["batch"]
    _sub(root, "ID", f"BPR-{batch['number']}")
    _sub(root, "EntryID", batch["number"])
    _sub(root, "ObjectType", "Batch Production Record")
    _sub(root, "TimeStamp", r["printed"]["at"])
    _sub(root, "Description", f"{r['product']['name']} — {r['recipe']['title']}")
    _sub(root, "PublishedDate", r["printed"]["at"])
    _sub(root, "CreationDate", batch["created_at"])
    _sub(root, "BatchID", batch["number"])
    if batch.get("output_lot"):
        _sub(root, "LotID", batch["output_lot"])
    _sub(root, "MaterialDefinitionID", r["product"]["code"])
    _sub(root, "RecordStatus", batch["status"])
    _sub(root, "Version", r["recipe"]["version"])


def _changes(root: etree._Element, r: dict[str, Any]) -> None:
    if not r["corrections"]:
        return
    history = _sub(root, "ChangeHistory")
    for c in r["corrections"]:
        change = _entry(
            history, "Change", f"C{c['number']}", "Change", c["at"], f"{c['step']} {c['name']} → {c['corrected']}"
        )
        _sub(change, "RecordReference", c["corrects"])
        _value(change, "PrechangeData", c["original"], c["unit"])
        _sub(change, "Reason", c["reason"] or "")


def _comments(root: etree._Element, r: dict[str, Any]) -> None:
    if not r["deviations"]:
        return
    comments = _sub(root, "Comments")
    for d in r["deviations"]:
        text = f"{d['severity']} {d['kind']} ({d['status']}): {d['description']}"
        comment = _entry(comments, "Comment", d["number"], "Comment", d["opened_at"], text)
        _sub(comment, "RecordReference", d["step"] or r["batch"]["number"])
        _sub(comment, "CommentText", d["comment"] or "no comment yet")
        _sub(comment, "PersonID", d["opened_by"])


def _datasets(root: etree._Element, r: dict[str, Any]) -> None:
    if not r["trends"]:
        return
    sets = _sub(root, "DataSets")
    for index, t in enumerate(r["trends"], start=1):
        points = t["points"]
        data = _entry(sets, "DataSet", f"DS{index}", "Data Set", points[0]["at"] if points else None, t["tag"])
        if points:
            _sub(data, "StartTime", points[0]["at"])
            _sub(data, "EndTime", points[-1]["at"])
        spec = _sub(data, "TagSpecification")
        _sub(spec, "TagIndex", "1")
        _sub(spec, "DataType", "decimal")
        _sub(spec, "UnitOfMeasure", "")
        _sub(spec, "DataSource", t["tag"])
        _sub(spec, "ProceduralElementReference", t["step"])
        for order, p in enumerate(points or [{"at": None, "mean": ""}], start=1):
            row = _sub(data, "OrderedData")
            _sub(row, "OrderIndex", str(order))
            if p["at"]:
                _sub(row, "TimeValue", p["at"])
            value = _sub(row, "DataValue")
            _sub(value, "TagIndex", "1")
            _sub(value, "Value", p["mean"])


def _event(parent: etree._Element, ident: str, ts: str | None, kind: str, subtype: str, descr: str) -> etree._Element:
    event = _entry(parent, "Event", ident, "Event", ts, descr)
    _sub(event, "EventType", kind)
    _sub(event, "EventSubType", subtype)
    return event


def _step_events(events: etree._Element, r: dict[str, Any], step: dict[str, Any], corrections: dict[str, Any]) -> None:
    path = step["path"]
    for what, ts, who in (
        ("started", step["started_at"], step["started_by"]),
        ("completed", step["ended_at"], step["ended_by"]),
    ):
        if ts:
            event = _event(
                events, f"{path}/{what}", ts, "Procedural Execution", "State Change", f"{path} {step['name']} {what}"
            )
            if step["unit"]:
                _sub(event, "EquipmentID", step["unit"])
            _sub(event, "PersonID", who or "")
            _sub(event, "ProceduralElementReference", path)
    for e in step["entries"]:
        kind = "Equipment" if e["source"] in EQUIPMENT_SOURCES else "Operator"
        subtype = "Process Data" if kind == "Equipment" else "Prompt Response"
        event = _event(events, e["id"], e["recorded_at"], kind, subtype, e["name"])
        _value(event, "Value", e["value"], e["unit"])
        previous = corrections.get(e["id"])
        if previous is not None:
            _value(event, "PreviousValue", previous["original"], previous["unit"])
        _sub(event, "PersonID", e["recorded_by"])
        _sub(event, "ProceduralElementReference", path)
        _sub(event, "Category", e["source"] if e["in_limits"] is not False else f"{e['source']}, out of limits")


def _events(root: etree._Element, r: dict[str, Any]) -> None:
    events = _sub(root, "Events")
    corrections = {c["entry"]: c for c in r["corrections"]}
    for step in r["steps"]:
        _step_events(events, r, step, corrections)
    for index, m in enumerate(r["materials"], start=1):
        event = _event(events, f"M{index}", m["consumed_at"], "Material", "Consume", f"{m['material']} lot {m['lot']}")
        _value(event, "Value", m["quantity"], m["unit"], "decimal")
        _sub(event, "MessageText", f"container {m['container'] or '—'}")
        _sub(event, "PersonID", m["consumed_by"])
        _sub(event, "ProceduralElementReference", m["step"])
    _yield_events(events, r)
    for sid, s in sorted(r["signatures"].items(), key=lambda item: (item[1]["ts"], item[0])):
        event = _event(events, sid, s["ts"], "Operator", "Security", f"signature {s['meaning']}")
        _sub(event, "MessageText", s["manifestation"])
        _sub(event, "PersonID", s["signer"])
        _sub(event, "ProceduralElementReference", f"{s['subject']['type']} {s['subject']['id']}")


def _yield_events(events: etree._Element, r: dict[str, Any]) -> None:
    ended = r["batch"].get("ended_at")
    for y in r.get("yields", []):
        verdict = {None: "no actual", True: "within limits", False: "outside limits"}[y["within"]]
        of = "batch" if y["scope"] == "batch" else y["scope"]
        event = _event(events, f"yield/{of}", ended, "Material", "Produce", f"yield of {of}")
        _value(event, "Value", y["actual"], y["unit"], "decimal")
        _value(event, "PreviousValue", y["theoretical"], y["unit"], "decimal")
        limits = f"{y['low'] or '-'}..{y['high'] or '-'} %"
        _sub(event, "MessageText", f"{y['percent'] or '-'} % of theoretical, limits {limits}: {verdict}")
        _sub(event, "ProceduralElementReference", y["step"])
        _sub(event, "Category", verdict)
    for m in r.get("reconciliation", []):
        t = m["total"]
        verdict = {None: "no limit", True: "within limit", False: "outside limit"}[m["within"]]
        event = _event(events, f"reconciliation/{m['material']}", ended, "Material", "Reconciliation", m["material"])
        _value(event, "Value", t["difference"], m["unit"], "decimal")
        for c in m["containers"]:
            _sub(
                event,
                "MessageText",
                f"container {c['container']}: issued {c['issued']} - consumed {c['consumed']} - returned "
                f"{c['returned']} - waste {c['waste']} = {c['difference']} {m['unit']}",
            )
        _sub(event, "Category", verdict)


def _people(root: etree._Element, r: dict[str, Any]) -> None:
    if not r["people"]:
        return
    people = _sub(root, "PersonnelIdentification")
    for user_id, name in sorted(r["people"].items()):
        manifest = _entry(people, "PersonnelIdentificationManifest", user_id, "Personnel Identification Manifest", None)
        _sub(manifest, "RecordReference", user_id)
        _sub(manifest, "Name", name)
        _sub(manifest, "ChangeIndication", "unchanged")


def to_element(record: dict[str, Any]) -> etree._Element:
    """The ``BatchProductionRecord`` element of ``record`` (record.json's dict)."""
    root = etree.Element(f"{{{NS}}}BatchProductionRecord", nsmap={None: NS})
    _header(root, record)
    _changes(root, record)
    _comments(root, record)
    _datasets(root, record)
    _events(root, record)
    _people(root, record)
    return root


def export_bpr(record: dict[str, Any]) -> bytes:
    """The BatchML document (UTF-8, with declaration); raises BprError if it fails the schema."""
    document = etree.ElementTree(to_element(record))
    validator = schema()
    if not validator.validate(document):
        problems = "; ".join(f"line {e.line}: {e.message}" for e in list(validator.error_log)[:5])
        raise BprError(f"the batch production record does not validate against {SCHEMA_FILE}: {problems}")
    data: bytes = etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data
