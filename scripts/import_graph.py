"""Draw the package imports of the product as docs/architecture-imports.svg.

    .venv/bin/python scripts/import_graph.py          # rewrite the picture
    .venv/bin/python scripts/import_graph.py --check  # exit 1 when it is not current

One box per package (``ebr.<feature>`` and the shared ``ebr.web``/``ebr.api``/``ebr.cli``
count as packages, ``ebr.core`` is the foundation), one arrow per "some module of A imports
some module of B", in the layers of docs/architecture.md. The import graph is grimp's (the
one import-linter checks), rendered by graphviz ``dot``. The DOT text is deterministic; its
hash is the graph's name, which ``dot`` writes into the SVG, so ``--check`` (and
tests/test_architecture.py) can tell a stale picture without depending on the graphviz
version that drew it.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "architecture-imports.svg"
DOMAIN = ("recipes", "equipment", "signatures", "audit")
PACKAGES = ("ebr", *DOMAIN, "validation")
SHARED = {"ebr.web", "ebr.api", "ebr.cli"}
LAYERS = (  # label, fill colour; top to bottom as imports point down
    ("validation", "#f3e5f5"),
    ("application (ebr.*)", "#e3f2fd"),
    ("domain", "#e8f5e9"),
    ("foundation", "#fff8e1"),
)


def group_of(module: str) -> str:
    """The box a module is drawn in: ``ebr.<x>`` for the application, else its top package."""
    parts = module.split(".")
    if parts[0] == "ebr" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def layer_of(group: str) -> str:
    if group == "validation":
        return LAYERS[0][0]
    if group in DOMAIN:
        return LAYERS[2][0]
    if group == "ebr.core":
        return LAYERS[3][0]
    return LAYERS[1][0]


def edges() -> set[tuple[str, str]]:
    """(importer, imported) between boxes, from every import of the product's modules."""
    import grimp

    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(*PACKAGES)
    found: set[tuple[str, str]] = set()
    for module in graph.modules:
        source = group_of(module)
        for imported in graph.find_modules_directly_imported_by(module):
            target = group_of(imported)
            if source != target and target.split(".")[0] in PACKAGES:
                found.add((source, target))
    return found


def dot_source(arrows: set[tuple[str, str]]) -> str:
    """The DOT text of the picture, with ``DIGEST`` standing for its own hash."""
    from ebr.features import FEATURES

    groups = sorted({g for edge in arrows for g in edge})
    lines = [
        'digraph "DIGEST" {',
        '  rankdir=TB; newrank=true; nodesep=0.25; ranksep=0.6; fontname="Helvetica";',
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=11];',
        '  edge [color="#607d8b", arrowsize=0.6];',
    ]
    for number, (label, colour) in enumerate(LAYERS):
        lines.append(f'  subgraph "cluster_{number}" {{ label="{label}"; style=filled; color="{colour}";')
        for group in groups:
            if layer_of(group) != label:
                continue
            attrs = ""
            if group in FEATURES:
                attrs = ' [fillcolor="#bbdefb"]'  # a feature package (ebr/features.py)
            elif group in SHARED:
                attrs = ' [fillcolor="#cfd8dc"]'  # what every feature shares
            lines.append(f'    "{group}"{attrs};')
        lines.append("  }")
    lines.extend(f'  "{source}" -> "{target}";' for source, target in sorted(arrows))
    lines.append("}")
    return "\n".join(lines) + "\n"


def current_dot() -> tuple[str, str]:
    """The DOT text with its hash filled in, and the hash."""
    template = dot_source(edges())
    digest = "imports_" + hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]
    return template.replace("DIGEST", digest), digest


def render(dot: str) -> bytes:
    import graphviz  # type: ignore[import-untyped]

    svg: bytes = graphviz.Source(dot).pipe(format="svg")
    return svg


def main(argv: list[str]) -> int:
    dot, digest = current_dot()
    if "--check" in argv:
        if OUTPUT.exists() and digest in OUTPUT.read_text(encoding="utf-8"):
            print(f"{OUTPUT.relative_to(ROOT)} is current ({digest})")
            return 0
        print(f"{OUTPUT.relative_to(ROOT)} is stale: run .venv/bin/python scripts/import_graph.py and commit it")
        return 1
    OUTPUT.write_bytes(render(dot))
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
