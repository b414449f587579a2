"""The procedure of a recipe as a sequential function chart (IEC 61131-3 / ISA-88 style), as SVG.

Drawn server-side by Graphviz ``dot`` through the ``graphviz`` package. Every phase is
a step (the recipe's initial step with a double border); every unit procedure and
operation a frame around its steps. A transition is a bar between steps, labelled with
its condition; a transition that starts or joins parallel branches is a double bar
(the SFC symbol for simultaneous sequences). An alternative (two transitions from one
step) is two bars. Transitions between operations or unit procedures run from the
last steps of one frame to the first step of the next.

``active`` paths are highlighted (a batch's current steps) and ``done`` paths shaded.
Text in the picture is escaped by graphviz (``<``, ``&`` in names and conditions).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import graphviz

from ebr.core.errors import EbrError
from recipes.graph import effective_transitions
from recipes.model import Operation, Recipe, Transition, UnitProcedure

ACTIVE = "#ffd54f"
DONE = "#d7e8d2"


class DrawingFailed(EbrError):
    """Graphviz could not draw the chart (``dot`` missing or failing)."""


@dataclass
class _Chart:
    graph: graphviz.Digraph
    active: Collection[str]
    done: Collection[str]
    initial: str | None = None
    bars: int = 0
    seen: set[str] = field(default_factory=set)


def _pid(path: str) -> str:
    return "p_" + path.replace(".", "__").replace("-", "_m_")


def _entry(element: UnitProcedure | Operation, prefix: str) -> str:
    """The path of the first phase reached when ``element`` starts."""
    if isinstance(element, UnitProcedure):
        return _entry(element.operations[0], f"{prefix}{element.id}.")
    return f"{prefix}{element.id}.{element.phases[0].id}"


def _ends(ids: Sequence[str], transitions: Sequence[Transition]) -> list[str]:
    """Steps of a level with no outgoing transition (where its branches end)."""
    sources = {s for t in effective_transitions(ids, transitions) for s in t.sources}
    return [i for i in ids if i not in sources] or [ids[-1]]


def _exits(element: UnitProcedure | Operation, prefix: str) -> list[str]:
    """The paths of the last phases of ``element``."""
    if isinstance(element, UnitProcedure):
        ops = {op.id: op for op in element.operations}
        ends = _ends([op.id for op in element.operations], element.transitions)
        return [p for end in ends for p in _exits(ops[end], f"{prefix}{element.id}.")]
    ends = _ends([ph.id for ph in element.phases], element.transitions)
    return [f"{prefix}{element.id}.{end}" for end in ends]


def _bar(chart: _Chart, graph: graphviz.Digraph, transition: Transition) -> str:
    chart.bars += 1
    name = f"t_{chart.bars}"
    parallel = len(transition.sources) > 1 or len(transition.targets) > 1
    graph.node(
        name,
        label="",
        xlabel=transition.condition or "",
        shape="box",
        style="filled",
        fillcolor="black",
        width="0.6" if not parallel else "1.2",
        height="0.04" if not parallel else "0.09",
        peripheries="2" if parallel else "1",
        color="black" if not parallel else "black:white:black",
        fontsize="9",
    )
    return name


def _level(
    chart: _Chart,
    graph: graphviz.Digraph,
    ids: Sequence[str],
    transitions: Sequence[Transition],
    entry: dict[str, str],
    exits: dict[str, list[str]],
) -> None:
    """Bars and links of one level: from the exits of each source to the entry of each target."""
    for transition in effective_transitions(ids, transitions):
        bar = _bar(chart, graph, transition)
        for source in transition.sources:
            for path in exits.get(source, []):
                graph.edge(_pid(path), bar, arrowhead="none")
        for target in transition.targets:
            if target in entry:
                graph.edge(bar, _pid(entry[target]))


def _operation(chart: _Chart, parent: graphviz.Digraph, op: Operation, prefix: str) -> None:
    with parent.subgraph(name=f"cluster_{_pid(prefix + op.id)}") as frame:
        frame.attr(label=f"{prefix}{op.id} {op.name}", style="rounded,dashed", color="#7a8a99", fontsize="10")
        for phase in op.phases:
            path = f"{prefix}{op.id}.{phase.id}"
            attrs = {"shape": "box", "style": "filled", "fillcolor": "white", "fontsize": "10"}
            if path in chart.active:
                attrs.update(fillcolor=ACTIVE, penwidth="2.5")
            elif path in chart.done:
                attrs["fillcolor"] = DONE
            if path == chart.initial:
                attrs["peripheries"] = "2"
            frame.node(_pid(path), label=f"{phase.id}  {phase.name}\n{phase.type.value.replace('_', ' ')}", **attrs)
        ids = [ph.id for ph in op.phases]
        own = {i: f"{prefix}{op.id}.{i}" for i in ids}
        _level(chart, frame, ids, op.transitions, own, {i: [p] for i, p in own.items()})


def draw(recipe: Recipe, *, active: Collection[str] = (), done: Collection[str] = ()) -> graphviz.Digraph:
    """The chart of ``recipe`` as a graphviz graph (not yet laid out)."""
    graph = graphviz.Digraph("sfc", graph_attr={"rankdir": "TB", "nodesep": "0.3", "ranksep": "0.25"})
    graph.attr("node", fontname="Helvetica")
    graph.attr("edge", arrowsize="0.6")
    chart = _Chart(graph=graph, active=set(active), done=set(done))
    if recipe.unit_procedures and recipe.unit_procedures[0].operations:
        chart.initial = _entry(recipe.unit_procedures[0], "")
    for up in recipe.unit_procedures:
        with graph.subgraph(name=f"cluster_{_pid(up.id)}") as frame:
            frame.attr(label=f"{up.id} {up.name}", style="rounded", color="#34495e", fontsize="11")
            for op in up.operations:
                _operation(chart, frame, op, f"{up.id}.")
            ops = [op.id for op in up.operations]
            by_id = {op.id: op for op in up.operations}
            _level(
                chart, frame, ops, up.transitions,
                {i: _entry(by_id[i], f"{up.id}.") for i in ops},
                {i: _exits(by_id[i], f"{up.id}.") for i in ops},
            )  # fmt: skip
    ups = [up.id for up in recipe.unit_procedures]
    by_up = {up.id: up for up in recipe.unit_procedures}
    _level(
        chart, graph, ups, recipe.transitions,
        {i: _entry(by_up[i], "") for i in ups},
        {i: _exits(by_up[i], "") for i in ups},
    )  # fmt: skip
    return graph


def svg(recipe: Recipe, *, active: Collection[str] = (), done: Collection[str] = ()) -> str:
    """The chart of ``recipe`` as an SVG document; raises :class:`DrawingFailed` if dot fails."""
    try:
        data: bytes = draw(recipe, active=active, done=done).pipe(format="svg")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as exc:
        raise DrawingFailed(
            f"the procedure could not be drawn ({exc}); check that Graphviz `dot` is installed"
        ) from None
    text = data.decode("utf-8")
    return text[text.index("<svg") :]  # without the XML prolog and DOCTYPE, to inline it in a page
