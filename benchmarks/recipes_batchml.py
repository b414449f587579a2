"""Recipes at scale: a generated 2,000-phase recipe through validation, import and BatchML.

Measured, each the median of a few runs in one process:

* validate: YAML text → checked ``Recipe`` (marshmallow structure, units, graph);
* validate + import: the same plus storing the draft version with its audit event
  (``services.recipes.import_text`` on SQLite, its own transaction);
* BatchML export: ``Recipe`` → V0701 document, including its validation;
* BatchML import: document → schema validation → checked ``Recipe``, from V0701
  and from the same document in the V02 namespace (no schema: read by element type);

Each beside the bare schema validation of the same BatchML document by lxml and by
xmlschema, measured in the same run: the ratio says how much our work costs on top
of what merely checking the XML costs.

Then the input boundary (issue 19): fuzz throughput (byte mutations of the
example recipes and BatchML documents through ``recipes.reading.read_recipes``,
inputs per second), and a 50 MB file refused: seconds and peak memory (tracemalloc)
from the path to the error. Goals: validation of the 2,000-phase recipe < 0.5 s;
the 50 MB file refused in < 1 s with < 100 MB.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import xmlschema
import yaml
from lxml import etree

from benchmarks.table import Row, print_table
from ebr import schema as db_schema
from ebr.bootstrap import build_services
from ebr.core import inputs
from ebr.core.config import load_settings
from recipes.authoring import RecipeInvalid, parse_yaml
from recipes.batchml import NS, NS_V02, export_batchml, schema, schema_path
from recipes.batchml_import import read_batchml
from recipes.reading import read_recipes

PHASES = int(os.environ.get("EBR_BENCH_RECIPE_PHASES", "2000"))
RUNS = int(os.environ.get("EBR_BENCH_RECIPE_RUNS", "3"))
FUZZ_INPUTS = int(os.environ.get("EBR_BENCH_FUZZ_INPUTS", "300"))
HUGE_MB = 50
PASSWORD = "Timing-Run-Pass-42"


def _phase(n: int) -> dict[str, Any]:
    """Phases of every type in turn, with references, limits and setpoints."""
    kinds: list[dict[str, Any]] = [
        {"type": "instruction", "text": f"Step {n}: check the valve line-up."},
        {"type": "data_entry", "kind": "numeric", "prompt": "Temperature", "unit": "°C", "low": 15, "high": 30},
        {"type": "weigh_dispense", "material": "RM-A", "target": {"param": "RM-A"}, "unit": "kg",
         "tolerance": Decimal("0.5"), "tolerance_unit": "%", "scale": "SC-01", "signatures": ["performed", "verified"]},
        {"type": "dosing", "source": "T-100", "destination": "R-101", "target": {"param": "charge"}, "unit": "L",
         "tolerance": 2, "tolerance_unit": "L", "rate": 120, "rate_unit": "L/min"},
        {"type": "timed_hold", "min_duration": 10, "max_duration": 20, "unit": "min",
         "setpoints": [{"tag": "R-101.jacket_setpoint", "value": 40, "unit": "°C"}]},
        {"type": "equipment_check", "equipment": "R-101", "checks": ["clean", "available"]},
        {"type": "sample", "tests": ["pH"], "quantity": 50, "unit": "mL"},
        {"type": "calculation", "expression": "PH2 * 1.5 + charge", "unit": "L"},
        {"type": "data_entry", "kind": "choice", "prompt": "Appearance", "choices": ["clear", "hazy"]},
        {"type": "sign_off", "meanings": ["performed", "verified"]},
    ]  # fmt: skip
    return {"name": f"Phase {n}", **kinds[(n - 1) % len(kinds)]}


def generated_document(phases: int) -> dict[str, Any]:
    """A recipe of ``phases`` phases: 4 unit procedures × operations of 10 phases, some with loops."""
    per_up = phases // 4
    ups = []
    for u in range(1, 5):
        operations = []
        for o in range(1, per_up // 10 + 1):
            op: dict[str, Any] = {"name": f"Operation {o}", "phases": [_phase(p) for p in range(1, 11)]}
            if o % 5 == 0:  # a loop back with a condition, every fifth operation
                op["transitions"] = [{"from": [f"PH{p}"], "to": [f"PH{p + 1}"]} for p in range(1, 10)]
                op["transitions"].append({"from": ["PH9"], "to": ["PH5"], "when": "PH9 == 'hazy'"})
            operations.append(op)
        ups.append({"name": f"Unit procedure {u}", "equipment": {"unit_class": "reactor", "unit": "R-101"},
                    "operations": operations})  # fmt: skip
    return {
        "name": "BENCH-2000",
        "title": f"Generated recipe with {phases} phases",
        "product": {"code": "FG-BENCH", "name": "Benchmark product"},
        "batch_size": {"nominal": 1000, "min": 500, "max": 1200, "unit": "L"},
        "formula": {"parameters": [{"name": "charge", "value": Decimal("750.0"), "unit": "L", "scaled": True}]},
        "bill_of_materials": {"materials": [{"code": "RM-A", "name": "A", "quantity": Decimal("24.000"),
                                             "unit": "kg", "tolerance": Decimal("0.5")}]},
        "unit_procedures": ups,
    }  # fmt: skip


def _median_seconds(
    fn: Callable[[], object], runs: int = RUNS, clock: Callable[[], float] = time.perf_counter
) -> float:
    samples = []
    for _ in range(runs):
        start = clock()
        fn()
        samples.append(clock() - start)
    return statistics.median(samples)


def _import_seconds(text: str, tmp: str) -> float:
    settings = load_settings({"EBR_DATA_DIR": f"{tmp}/data"}, database_url=f"sqlite:///{tmp}/bench.sqlite")
    services = build_services(settings)
    try:
        db_schema.upgrade(services.engine)
        with services.session_factory.begin() as session:
            services.users.create(
                session, actor="system:bench", user_id="author", full_name="Bench Author",
                roles=["recipe_author"], password=PASSWORD, must_change=False,
            )  # fmt: skip

        def one() -> None:
            with services.session_factory.begin() as session:
                services.recipes.import_text(session, actor="author", data=text, source="bench.yaml")

        return _median_seconds(one)
    finally:
        services.close()


def main() -> None:
    document = generated_document(PHASES)
    text = yaml.safe_dump(_plain(document), sort_keys=False, allow_unicode=True)
    recipe = parse_yaml(text)
    assert sum(1 for _ in recipe.phases()) == PHASES
    xml = export_batchml(recipe, version="1")
    lxml_schema = schema()
    independent = xmlschema.XMLSchema(schema_path())
    bare_lxml = _median_seconds(lambda: lxml_schema.assertValid(etree.ElementTree(etree.fromstring(xml))))
    bare_xmlschema = _median_seconds(lambda: independent.validate(etree.ElementTree(etree.fromstring(xml))))
    validate = _median_seconds(lambda: parse_yaml(text))
    with tempfile.TemporaryDirectory() as tmp:
        imported = _import_seconds(text, tmp)
    export = _median_seconds(lambda: export_batchml(recipe, version="1"))
    read = _median_seconds(lambda: read_batchml(xml))
    v02 = xml.replace(NS.encode(), NS_V02.encode())
    read_v02 = _median_seconds(lambda: read_batchml(v02))
    # The machines are shared: CPU time of this process says what the work costs without the neighbours.
    validate_cpu = _median_seconds(lambda: parse_yaml(text), clock=time.process_time)
    read_cpu = _median_seconds(lambda: read_batchml(xml), clock=time.process_time)
    cases = [
        (f"validate YAML ({PHASES} phases)", validate, "< 0.5 s"),
        (f"validate YAML ({PHASES} phases), CPU time", validate_cpu, "< 0.5 s"),
        ("BatchML V0701 import, CPU time", read_cpu, ""),
        ("validate + import (SQLite, audited)", imported, ""),
        (f"BatchML export ({len(xml) // 1024} KiB, validated)", export, ""),
        ("BatchML V0701 import (validated, checked)", read, ""),
        ("BatchML V02 import (checked)", read_v02, ""),
    ]
    for baseline_name, baseline in (("lxml bare", bare_lxml), ("xmlschema bare", bare_xmlschema)):
        rows = [Row(name, seconds, baseline, "s", goal) for name, seconds, goal in cases]
        print_table(
            f"Recipes: {PHASES}-phase recipe vs {baseline_name} validation of its BatchML ({baseline:.3f} s)",
            rows,
            baseline_name=baseline_name,
        )
    boundary()


def fuzz_throughput(count: int = FUZZ_INPUTS) -> tuple[float, float]:
    """Inputs per second through ``read_recipes`` (byte mutations of the examples), and the share refused."""
    from recipes.library import example_text

    seeds = [example_text("PCM-SOL-24").encode("utf-8"), export_batchml(parse_yaml(example_text("PCM-SOL-24")))]
    rng = random.Random(19)
    refused = 0
    start = time.perf_counter()
    for n in range(count):
        data = bytearray(seeds[n % len(seeds)])
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            data[at : at + rng.randint(0, 4)] = rng.randbytes(rng.randint(0, 4))
        try:
            read_recipes(bytes(data), source="fuzz")
        except RecipeInvalid:
            refused += 1
    return count / (time.perf_counter() - start), refused / count


def refuse_huge() -> tuple[float, float]:
    """Seconds and peak MiB from a 50 MB file's path to its refusal."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "huge.xml"
        row = b"<Description>not mapped</Description>\n"
        with path.open("wb") as out:
            out.write(b'<BatchInformation xmlns="http://www.wbf.org/xml/BatchML-V02"><MasterRecipe>\n')
            out.write(row * (HUGE_MB * 1024 * 1024 // len(row)))
            out.write(b"</MasterRecipe></BatchInformation>\n")
        tracemalloc.start()
        start = time.perf_counter()
        try:
            read_recipes(inputs.read_file(path), source=str(path))
        except (inputs.InputError, RecipeInvalid):
            pass
        else:
            raise AssertionError("a 50 MB file was accepted")
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 1024 / 1024
        tracemalloc.stop()
    return seconds, peak


def boundary() -> None:
    rate, refused = fuzz_throughput()
    seconds, peak = refuse_huge()
    print(f"\n## Input boundary\n\n| {'case':<44} | {'measured':>14} | {'goal':<12} |")
    print("|" + "-" * 46 + "|" + "-" * 16 + "|" + "-" * 14 + "|")
    print(f"| {f'fuzz throughput ({refused:.0%} refused)':<44} | {rate:>10.1f} in/s | {'':<12} |")
    print(f"| {f'{HUGE_MB} MB file refused: time':<44} | {seconds:>12.3f} s | {'< 1 s':<12} |")
    print(f"| {f'{HUGE_MB} MB file refused: peak memory':<44} | {peak:>10.1f} MiB | {'< 100 MB':<12} |")


def _plain(value: Any) -> Any:
    """Decimals as text for the YAML dump (the loader reads numbers back as Decimals)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


if __name__ == "__main__":
    main()
