"""The plant configuration file: endpoints, tags and dosing interlocks, validated.

One YAML file maps every logical tag (``R-101.level``) to an OPC UA node id on an
endpoint or to Modbus registers, with engineering units and ranges, and declares the
interlocks of each unit's dosing phase. Pointing the system at another plant needs
only another file. Every problem is reported with its path (``endpoints.plc.url``)
in one :class:`PlantConfigError`; nothing is half-loaded. Relative file paths
(certificates, keys) are resolved against the file's folder. Passwords are never in
the file: ``password_env`` names the environment variable that holds it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ebr.core import inputs, units
from ebr.core.errors import ValidationError
from equipment.config_reader import Reader
from equipment.errors import PlantConfigError

SECURITY_MODES = ("None", "Sign", "SignAndEncrypt")
DATA_TYPES = ("float32", "int16", "uint16", "int32", "uint32", "bool")
VALUE_TYPES = ("float", "bool", "int")
REGISTER_KINDS = ("holding", "input", "coil", "discrete")
EQUIPMENT_KINDS = ("unit", "tank", "scale", "valve", "pump", "agitator", "instrument", "filter", "fill_station")


@dataclass(frozen=True)
class Security:
    """OPC UA message security: policy Basic256Sha256 with Sign or SignAndEncrypt, or None."""

    mode: str = "None"
    policy: str = "None"
    certificate: Path | None = None
    private_key: Path | None = None
    server_certificate: Path | None = None
    # Certificate trust list: the server's certificate must be in this folder (or be issued by a CA
    # certificate there) and not revoked by a CRL in ``revocation_lists``; otherwise no connection.
    trusted_certificates: Path | None = None
    revocation_lists: Path | None = None


@dataclass(frozen=True)
class Endpoint:
    """A connection: an OPC UA server (``url``) or a Modbus TCP device (``host``/``port``)."""

    name: str
    type: str
    url: str = ""
    host: str = ""
    port: int = 0
    device_id: int = 1
    security: Security = field(default_factory=Security)
    username: str | None = None
    password_env: str | None = None
    timeout_s: float = 4.0
    publishing_interval_ms: float = 0.0
    poll_ms: float = 100.0
    # Link watch: a probe every ``watchdog_ms``; the link counts as lost after ``watchdog_missed``
    # probes in a row went unanswered (within their period). See docs/equipment.md for the trade-off.
    watchdog_ms: float = 250.0
    watchdog_missed: int = 3
    # The runtime reports itself not connected (so the scale and dosing refuse its values) when
    # this endpoint has not answered for longer than this.
    max_data_age_ms: float = 3000.0

    def password(self) -> str | None:
        """The password from the named environment variable (None when not configured)."""
        return os.environ.get(self.password_env) if self.password_env else None


@dataclass(frozen=True)
class ModbusAddress:
    register: int
    kind: str = "holding"
    data_type: str = "float32"
    byte_order: str = "big"
    word_order: str = "big"
    scale: float = 1.0
    offset: float = 0.0
    bit: int | None = None

    @property
    def count(self) -> int:
        return 2 if self.data_type in ("float32", "int32", "uint32") else 1


@dataclass(frozen=True)
class TagSpec:
    """One logical tag: where it lives, its type, unit and range."""

    name: str
    endpoint: str
    type: str = "float"
    node: str | None = None
    modbus: ModbusAddress | None = None
    unit: str = ""
    low: float | None = None
    high: float | None = None
    writable: bool = False
    decimals: int = 3
    # OPC UA: engineering value = raw * scale + offset (``raw_range`` + ``range`` are turned into these).
    scale: float = 1.0
    offset: float = 0.0
    # Writable outputs: the value the runtime drives the output to when no running phase owns it
    # (None: ``safe_state: manual``, an output people run by hand that the runtime never forces).
    safe_state: bool | float | int | None = None
    # The tag that confirms the output's state (default: the output's own value, read back).
    feedback: str | None = None

    @property
    def scaled(self) -> bool:
        return self.scale != 1.0 or self.offset != 0.0


@dataclass(frozen=True)
class DosingConfig:
    """Tags and interlock limits of one destination unit's dosing phase."""

    unit: str
    level: str
    totalizer: str
    flow: str
    inlet_valve: str
    inlet_valve_feedback: str
    pump: str
    pump_feedback: str | None = None
    pump_speed: str | None = None
    agitator_feedback: str | None = None
    source_levels: Mapping[str, str] = field(default_factory=dict)
    level_permissive_max: float = 0.0
    level_high_high: float = 0.0
    source_reserve: float = 0.0
    valve_follow_ms: float = 1500.0
    stale_ms: float = 1000.0
    flow_without_command: float = 0.5
    fine_band: float = 0.0
    fine_speed_pct: float = 100.0
    # Valve travel compensation: the valve closes this long before the target (learned after each dosing).
    valve_travel_ms: float = 0.0
    # Values older than this (no answer from their endpoint since) are not used to start or run a dosing.
    max_data_age_ms: float = 2000.0
    # Derived from the tags' declared units: flow tag value × flow_factor = totalizer units per second;
    # a level tag value × level_factor = totalizer units.
    quantity_unit: str = "L"
    flow_factor: float = 1.0
    level_factor: float = 1.0
    # The largest flow the meter can show (totalizer units/s; 0: not declared): bounds a plausible increment.
    max_flow: float = 0.0


@dataclass(frozen=True)
class PlcPhaseConfig:
    """A phase run by the PLC (ISA-88 phase logic interface): the tags of its handshake."""

    name: str
    unit: str
    command: str
    state: str
    refusal: str | None = None
    watchdog_write: str | None = None
    watchdog_read: str | None = None
    watchdog_ms: float = 2000.0
    response_ms: float = 3000.0
    setpoints: Mapping[str, str] = field(default_factory=dict)
    reports: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlantConfig:
    """The whole plant configuration."""

    area: str
    path: Path | None
    endpoints: Mapping[str, Endpoint]
    tags: Mapping[str, TagSpec]
    equipment: Mapping[str, Mapping[str, Any]]
    dosing: Mapping[str, DosingConfig]
    plc_phases: Mapping[str, PlcPhaseConfig] = field(default_factory=dict)

    def tags_of(self, endpoint: str) -> list[TagSpec]:
        return [tag for tag in self.tags.values() if tag.endpoint == endpoint]


def _security(r: Reader, data: Mapping[str, Any], path: str) -> Security:
    mode = r.choice(data, "mode", path, SECURITY_MODES, "None")
    if mode == "None":
        return Security()
    policy = r.choice(data, "policy", path, ("Basic256Sha256",), "Basic256Sha256")
    cert, key = r.file(data, "certificate", path), r.file(data, "private_key", path)
    if cert is None or key is None:
        r.problems.append(f"{path}: mode {mode} needs certificate and private_key (client certificate and its key)")
    trusted = r.certificate_dir(data, "trusted_certificates", path)
    revoked = r.certificate_dir(data, "revocation_lists", path)
    if revoked is not None and trusted is None:
        r.problems.append(f"{path}: revocation_lists needs trusted_certificates (the CAs whose CRLs they are)")
    return Security(mode, policy, cert, key, r.file(data, "server_certificate", path), trusted, revoked)


def _endpoint(r: Reader, name: str, data: Mapping[str, Any]) -> Endpoint:
    path = f"endpoints.{name}"
    kind = r.choice(data, "type", path, ("opcua", "modbus"), "opcua")
    common: dict[str, Any] = {
        "timeout_s": float(r.get(data, "timeout_s", path, (int, float), 4.0)),
        "watchdog_ms": float(r.get(data, "watchdog_ms", path, (int, float), 250.0)),
        "watchdog_missed": r.get(data, "watchdog_missed", path, int, 3),
        "max_data_age_ms": float(r.get(data, "max_data_age_ms", path, (int, float), 3000.0)),
    }
    if not 0 < common["max_data_age_ms"] < float("inf"):
        r.problems.append(f"{path}.max_data_age_ms: must be a positive number of ms (e.g. 3000)")
    if common["watchdog_ms"] <= 0:
        r.problems.append(f"{path}.watchdog_ms: must be above 0 (the probe period, e.g. 250)")
    if common["watchdog_missed"] is not None and common["watchdog_missed"] < 1:
        r.problems.append(
            f"{path}.watchdog_missed: must be at least 1 (probes missed in a row before the link is lost)"
        )
    if kind == "modbus":
        return Endpoint(
            name=name,
            type=kind,
            host=r.get(data, "host", path, str) or "",
            port=r.get(data, "port", path, int) or 0,
            device_id=r.get(data, "device_id", path, int, 1),
            poll_ms=float(r.get(data, "poll_ms", path, (int, float), 100)),
            **common,
        )
    url = r.get(data, "url", path, str) or ""
    if url and not url.startswith("opc.tcp://"):
        r.problems.append(f"{path}.url: {url!r} must start with opc.tcp://")
    password_env = r.get(data, "password_env", path, str, None)
    spath = f"{path}.security"
    if "password" in data:
        r.problems.append(f"{path}.password: never put a password in the file; use password_env: VARIABLE_NAME")
    return Endpoint(
        name=name,
        type=kind,
        url=url,
        security=_security(r, r.mapping(data.get("security", {}), spath), spath),
        username=r.get(data, "username", path, str, None),
        password_env=password_env,
        publishing_interval_ms=float(r.get(data, "publishing_interval_ms", path, (int, float), 0.0)),
        **common,
    )


def _modbus(r: Reader, data: Mapping[str, Any], path: str) -> ModbusAddress:
    register = r.get(data, "register", path, int)
    if register is not None and not 0 <= register < 65536:
        r.problems.append(f"{path}.register: {register} is outside 0..65535")
    return ModbusAddress(
        register=register or 0,
        kind=r.choice(data, "kind", path, REGISTER_KINDS, "holding"),
        data_type=r.choice(data, "data_type", path, DATA_TYPES, "float32"),
        byte_order=r.choice(data, "byte_order", path, ("big", "little"), "big"),
        word_order=r.choice(data, "word_order", path, ("big", "little"), "big"),
        scale=float(r.get(data, "scale", path, (int, float), 1.0)),
        offset=float(r.get(data, "offset", path, (int, float), 0.0)),
        bit=r.get(data, "bit", path, int, None),
    )


def _range(r: Reader, data: Mapping[str, Any], key: str, path: str) -> tuple[float, float] | None:
    value_range = r.get(data, key, path, list, None)
    if value_range is None:
        return None
    if (
        len(value_range) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value_range)
        or value_range[0] >= value_range[1]
    ):
        r.problems.append(f"{path}.{key}: expected [low, high] with low < high, got {value_range!r}")
        return None
    return float(value_range[0]), float(value_range[1])


def _scaling(
    r: Reader, data: Mapping[str, Any], path: str, kind: str, eng: tuple[float, float] | None
) -> tuple[float, float]:
    """OPC UA scaling: ``scale``/``offset``, or ``raw_range`` mapped linearly onto ``range``."""
    raw = _range(r, data, "raw_range", path)
    has_scale = "scale" in data or "offset" in data
    if kind != "opcua":
        if has_scale or raw is not None:
            r.problems.append(f"{path}: scale, offset and raw_range of a Modbus tag go under modbus: (modbus.scale)")
        return 1.0, 0.0
    if raw is not None and has_scale:
        r.problems.append(f"{path}.raw_range: give either raw_range (with range) or scale/offset, not both")
        return 1.0, 0.0
    if raw is not None:
        if eng is None:
            r.problems.append(f"{path}.raw_range: needs range: [low, high] in the engineering unit it maps onto")
            return 1.0, 0.0
        scale = (eng[1] - eng[0]) / (raw[1] - raw[0])
        return scale, eng[0] - raw[0] * scale
    scale = float(r.get(data, "scale", path, (int, float), 1.0))
    offset = float(r.get(data, "offset", path, (int, float), 0.0))
    if scale == 0 or not math.isfinite(scale):
        r.problems.append(f"{path}.scale: {scale:g} cannot scale a value; give the finite factor raw → engineering")
        scale = 1.0
    if not math.isfinite(offset):
        r.problems.append(f"{path}.offset: {offset:g} is not a finite number; give the offset in the engineering unit")
        offset = 0.0
    return scale, offset


def _unit(r: Reader, data: Mapping[str, Any], path: str) -> str:
    unit = r.get(data, "unit", path, str, "")
    if unit:
        try:
            units.check(unit)
        except ValidationError as exc:
            r.problems.append(f"{path}.unit: {exc}")
    return str(unit or "")


def _safe_state(r: Reader, data: Mapping[str, Any], path: str, kind: str, writable: bool) -> bool | float | int | None:
    if "safe_state" not in data:
        return (False if kind == "bool" else 0) if writable else None
    value = data["safe_state"]
    if not writable:
        r.problems.append(
            f"{path}.safe_state: only a writable output has a safe state; remove it or add writable: true"
        )
        return None
    if value == "manual":
        return None
    if kind == "bool" and not isinstance(value, bool):
        r.problems.append(f"{path}.safe_state: {value!r} is not a state of a bool output; write false, true or manual")
        return False
    if kind != "bool" and (isinstance(value, bool) or not isinstance(value, int | float)):
        r.problems.append(f"{path}.safe_state: {value!r} is not a number; write the safe value (e.g. 0) or manual")
        return 0
    return value  # type: ignore[no-any-return]


def _tag(r: Reader, name: str, data: Mapping[str, Any], path: str, endpoints: Mapping[str, Endpoint]) -> TagSpec:
    endpoint = r.get(data, "endpoint", path, str) or ""
    if endpoint and endpoint not in endpoints:
        r.problems.append(f"{path}.endpoint: {endpoint!r} is not declared under endpoints ({', '.join(endpoints)})")
    kind = endpoints[endpoint].type if endpoint in endpoints else "opcua"
    node = r.get(data, "node", path, str) if kind == "opcua" else None
    modbus = (
        _modbus(r, r.mapping(data.get("modbus", {}), f"{path}.modbus"), f"{path}.modbus") if kind == "modbus" else None
    )
    eng = _range(r, data, "range", path)
    value_type = r.choice(data, "type", path, VALUE_TYPES, "float")
    scale, offset = _scaling(r, data, path, kind, eng)
    if (scale, offset) != (1.0, 0.0) and value_type != "float":
        r.problems.append(f"{path}: scaling needs type: float (a {value_type} value is not scaled)")
    writable = r.get(data, "writable", path, bool, False)
    feedback = r.get(data, "feedback", path, str, None)
    return TagSpec(
        name=name,
        endpoint=endpoint,
        type=value_type,
        node=node,
        modbus=modbus,
        unit=_unit(r, data, path),
        low=eng[0] if eng else None,
        high=eng[1] if eng else None,
        writable=writable,
        decimals=r.get(data, "decimals", path, int, 3),
        scale=scale,
        offset=offset,
        safe_state=_safe_state(r, data, path, value_type, writable),
        feedback=feedback if feedback is None or "." in feedback else f"{name.split('.', 1)[0]}.{feedback}",
    )


def _check_tags(r: Reader, tags: Mapping[str, TagSpec]) -> None:
    """Feedback tags exist; tags sharing one node agree on what the node is."""
    by_node: dict[tuple[str, str], list[TagSpec]] = {}
    for tag in tags.values():
        path = f"equipment.{tag.name.replace('.', '.tags.', 1)}"
        if tag.feedback is not None and tag.feedback not in tags:
            r.problems.append(f"{path}.feedback: tag {tag.feedback!r} is not declared under equipment")
        if tag.node:
            by_node.setdefault((tag.endpoint, tag.node), []).append(tag)
    for (endpoint, node), shared in by_node.items():
        first = shared[0]
        for other in shared[1:]:
            where = f"equipment.{other.name.replace('.', '.tags.', 1)}"
            if other.type != first.type:
                r.problems.append(
                    f"{where}.type: {other.name} and {first.name} share node {node} on {endpoint} but declare "
                    f"types {other.type} and {first.type}; one node has one type"
                )
            if other.writable and first.writable and other.safe_state != first.safe_state:
                r.problems.append(
                    f"{where}.safe_state: {other.name} and {first.name} share node {node} but declare different "
                    "safe states; give both the same"
                )


_DOSING_NUMBERS: tuple[tuple[str, Any], ...] = (
    ("level_permissive_max", ...),
    ("level_high_high", ...),
    ("source_reserve", 0.0),
    ("valve_follow_ms", 1500.0),
    ("stale_ms", 1000.0),
    ("flow_without_command", 0.5),
    ("fine_band", 0.0),
    ("fine_speed_pct", 100.0),
    ("valve_travel_ms", 0.0),
    ("max_data_age_ms", 2000.0),
)


def _dosing_units(r: Reader, path: str, refs: Mapping[str, Any], tags: Mapping[str, TagSpec]) -> dict[str, Any]:
    """Factors from the declared units: flow → totalizer units per second, level → totalizer units."""
    if not all(refs.get(k) in tags for k in ("totalizer", "flow", "level")):
        return {}
    total, flow, level = tags[refs["totalizer"]], tags[refs["flow"]], tags[refs["level"]]
    found: dict[str, Any] = {}
    if not total.unit:
        r.problems.append(f"{path}.totalizer: tag {total.name} has no unit; declare unit: L (or kg, m³) on it")
        return found
    found["quantity_unit"] = total.unit
    try:
        per_second = f"{total.unit}/s"
        if not flow.unit or not units.compatible(flow.unit, per_second):
            r.problems.append(
                f"{path}.flow: tag {flow.name} has unit {flow.unit or '(none)'}, not a flow of {total.unit}; "
                f"declare unit: {total.unit}/s, {total.unit}/min or {total.unit}/h on it"
            )
        else:
            found["flow_factor"] = float(units.convert(Decimal(1), flow.unit, per_second))
            if flow.high is not None:
                found["max_flow"] = flow.high * found["flow_factor"]
        if not level.unit or not units.compatible(level.unit, total.unit):
            r.problems.append(
                f"{path}.level: tag {level.name} has unit {level.unit or '(none)'}, which cannot be compared with "
                f"the totalizer's {total.unit}; map it to {total.unit} (e.g. raw_range: [0, 100] with range: "
                "[0, capacity]) and declare that unit"
            )
        else:
            found["level_factor"] = float(units.convert(Decimal(1), level.unit, total.unit))
    except ValidationError as exc:
        r.problems.append(f"{path}: {exc}")
    return found


def _dosing(r: Reader, unit: str, data: Mapping[str, Any], tags: Mapping[str, TagSpec]) -> DosingConfig:
    path = f"dosing.{unit}"
    refs: dict[str, Any] = {}
    for key in ("level", "totalizer", "flow", "inlet_valve", "inlet_valve_feedback", "pump"):
        refs[key] = r.get(data, key, path, str) or ""
    for key in ("pump_feedback", "pump_speed", "agitator_feedback"):
        refs[key] = r.get(data, key, path, str, None)
    sources = {str(k): v for k, v in r.mapping(data.get("source_levels", {}), f"{path}.source_levels").items()}
    for key, ref in [*refs.items(), *((f"source_levels.{k}", v) for k, v in sources.items())]:
        if ref is not None and ref != "" and ref not in tags:
            r.problems.append(f"{path}.{key}: tag {ref!r} is not declared under equipment")
    for key in ("inlet_valve", "pump", "pump_speed"):
        if refs.get(key) in tags and not tags[refs[key]].writable:
            r.problems.append(f"{path}.{key}: tag {refs[key]!r} must be writable: true (the runtime commands it)")
    numbers: dict[str, Any] = {}
    for key, default in _DOSING_NUMBERS:
        value = r.get(data, key, path, (int, float), default)
        if value is not None:
            numbers[key] = float(value)
    if numbers.get("level_permissive_max", 0) >= numbers.get("level_high_high", float("inf")):
        r.problems.append(f"{path}.level_permissive_max: must be below level_high_high")
    for key in ("inlet_valve", "pump", "pump_speed"):
        if refs.get(key) in tags and tags[refs[key]].writable and tags[refs[key]].safe_state is None:
            r.problems.append(
                f"{path}.{key}: tag {refs[key]!r} is commanded by dosing and cannot be safe_state: manual; "
                "declare its safe state (false or 0)"
            )
    return DosingConfig(unit=unit, source_levels=sources, **refs, **numbers, **_dosing_units(r, path, refs, tags))


def _plc_phase(r: Reader, name: str, data: Mapping[str, Any], tags: Mapping[str, TagSpec]) -> PlcPhaseConfig:
    path = f"plc_phases.{name}"
    refs = {key: r.get(data, key, path, str) or "" for key in ("unit", "command", "state")}
    optional = {key: r.get(data, key, path, str, None) for key in ("refusal", "watchdog_write", "watchdog_read")}
    groups = {key: dict(r.mapping(data.get(key, {}), f"{path}.{key}")) for key in ("setpoints", "reports")}
    checks = [(k, v) for k, v in [*list(refs.items())[1:], *optional.items()] if v]
    checks += [(f"{g}.{k}", v) for g, items in groups.items() for k, v in items.items()]
    for key, ref in checks:
        if ref not in tags:
            r.problems.append(f"{path}.{key}: tag {ref!r} is not declared under equipment")
    commanded = {"command": refs["command"], "watchdog_write": optional["watchdog_write"]}
    commanded |= {f"setpoints.{k}": v for k, v in groups["setpoints"].items()}
    for key, ref in commanded.items():
        if ref and ref in tags and not tags[ref].writable:
            r.problems.append(f"{path}.{key}: tag {ref!r} must be writable: true")
    return PlcPhaseConfig(
        name=name,
        **refs,
        **optional,
        setpoints=groups["setpoints"],
        reports=groups["reports"],
        watchdog_ms=float(r.get(data, "watchdog_ms", path, (int, float), 2000.0)),
        response_ms=float(r.get(data, "response_ms", path, (int, float), 3000.0)),
    )


def parse_plant_config(data: Any, *, path: Path | None = None) -> PlantConfig:
    """Validate ``data`` (the parsed YAML) and return the configuration; raise PlantConfigError."""
    r = Reader(path.parent if path is not None else None)
    root = r.mapping(data, "(file)")
    if root.get("version") != 1:
        r.problems.append(f"version: expected 1, got {root.get('version')!r}")
    endpoints = {
        str(name): _endpoint(r, str(name), r.mapping(spec, f"endpoints.{name}"))
        for name, spec in r.mapping(root.get("endpoints", {}), "endpoints").items()
    }
    if not endpoints:
        r.problems.append("endpoints: declare at least one OPC UA or Modbus endpoint")
    tags: dict[str, TagSpec] = {}
    equipment: dict[str, Mapping[str, Any]] = {}
    for unit, spec in r.mapping(root.get("equipment", {}), "equipment").items():
        spec = r.mapping(spec, f"equipment.{unit}")
        equipment[str(unit)] = {k: v for k, v in spec.items() if k != "tags"}
        if spec.get("kind", "unit") not in EQUIPMENT_KINDS:
            r.problems.append(f"equipment.{unit}.kind: {spec.get('kind')!r} is not one of {', '.join(EQUIPMENT_KINDS)}")
        for tag_name, tag_spec in r.mapping(spec.get("tags", {}), f"equipment.{unit}.tags").items():
            full = f"{unit}.{tag_name}"
            tag_path = f"equipment.{unit}.tags.{tag_name}"
            tags[full] = _tag(r, full, r.mapping(tag_spec, tag_path), tag_path, endpoints)
    _check_tags(r, tags)
    dosing = {
        str(unit): _dosing(r, str(unit), r.mapping(spec, f"dosing.{unit}"), tags)
        for unit, spec in r.mapping(root.get("dosing", {}), "dosing").items()
    }
    plc_phases = {
        str(name): _plc_phase(r, str(name), r.mapping(spec, f"plc_phases.{name}"), tags)
        for name, spec in r.mapping(root.get("plc_phases", {}), "plc_phases").items()
    }
    if r.problems:
        where = f" {path}" if path else ""
        raise PlantConfigError(f"plant configuration{where} has {len(r.problems)} problem(s)", r.problems)
    return PlantConfig(str(root.get("area", "default")), path, endpoints, tags, equipment, dosing, plc_phases)


def load_plant_config(path: Path) -> PlantConfig:
    """Read and validate the YAML file at ``path``; raise PlantConfigError naming every problem."""
    try:  # the one input boundary: size, encoding, duplicate keys, plain numbers (ebr.core.inputs)
        data = inputs.load_yaml(inputs.read_file(path), str(path), floats=True)
    except inputs.InputError as exc:
        problem = exc.problem.removeprefix("not valid YAML: ")
        raise PlantConfigError(f"{path} is not valid YAML: {exc.where}: {problem}") from None
    return parse_plant_config(data, path=path)
