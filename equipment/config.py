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

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebr import inputs
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
    watchdog_ms: float = 250.0

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
    }
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


def _tag(r: Reader, name: str, data: Mapping[str, Any], path: str, endpoints: Mapping[str, Endpoint]) -> TagSpec:
    endpoint = r.get(data, "endpoint", path, str) or ""
    if endpoint and endpoint not in endpoints:
        r.problems.append(f"{path}.endpoint: {endpoint!r} is not declared under endpoints ({', '.join(endpoints)})")
    kind = endpoints[endpoint].type if endpoint in endpoints else "opcua"
    node = r.get(data, "node", path, str) if kind == "opcua" else None
    modbus = (
        _modbus(r, r.mapping(data.get("modbus", {}), f"{path}.modbus"), f"{path}.modbus") if kind == "modbus" else None
    )
    value_range = r.get(data, "range", path, list, None)
    low = high = None
    if value_range is not None:
        if (
            len(value_range) != 2
            or not all(isinstance(v, int | float) for v in value_range)
            or value_range[0] >= value_range[1]
        ):
            r.problems.append(f"{path}.range: expected [low, high] with low < high, got {value_range!r}")
        else:
            low, high = float(value_range[0]), float(value_range[1])
    return TagSpec(
        name=name,
        endpoint=endpoint,
        type=r.choice(data, "type", path, VALUE_TYPES, "float"),
        node=node,
        modbus=modbus,
        unit=r.get(data, "unit", path, str, ""),
        low=low,
        high=high,
        writable=r.get(data, "writable", path, bool, False),
        decimals=r.get(data, "decimals", path, int, 3),
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
)


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
    return DosingConfig(unit=unit, source_levels=sources, **refs, **numbers)


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
    try:  # the one input boundary: size, encoding, duplicate keys, plain numbers (ebr.inputs)
        data = inputs.load_yaml(inputs.read_file(path), str(path), floats=True)
    except inputs.InputError as exc:
        problem = exc.problem.removeprefix("not valid YAML: ")
        raise PlantConfigError(f"{path} is not valid YAML: {exc.where}: {problem}") from None
    return parse_plant_config(data, path=path)
