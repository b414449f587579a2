"""The ``ProcedureLogic`` of one BatchML level as our step graph (pure; used by ``batchml_import``).

A level's logic is a graph of steps, transitions and links. Other tools draw it
with more than our export writes, and all of it is read:

* **Begin and End steps** (a ``RecipeElement`` of type Begin/End, or a step whose
  ``RecipeElementID`` is ``Begin``/``End``) anywhere in the level: the initial
  step is the one the Begin step leads to, and a transition into End ends its
  branch (our graph ends a branch at a step without outgoing transitions).
* **Link junctions**: a link whose ``FromType`` is ``Link`` branches off that
  link (it starts where that link starts: a parallel divergence), one whose
  ``ToType`` is ``Link`` joins into it (it ends where that link ends: a
  convergence). Chains of junctions are followed to their ends.
* A link straight from a step to a step is an unconditional transition.
* **Conditions**: ``TRUE`` (or none) is unconditional; ``<source step>.State =
  Complete`` is what our transitions do anyway; anything else is translated to
  our condition language (``=`` → ``==``, ``<>`` → ``!=``, AND/OR/NOT, step ids
  to ours) and kept when it reads only names the recipe knows, otherwise kept as
  text in the report (the transition then fires when its sources complete; a
  choice between branches that cannot be read is refused).

A link or step naming something that does not exist is a problem, never a
dropped transition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lxml import etree

from recipes import formula

TRUE = "TRUE"
IMPLIED = "condition '<step>.State = Complete' implied: a transition fires when its sources are complete"
KINDS = ("Step", "Transition", "Link")
STEP_KNOWN = {"ID", "RecipeElementID", "RecipeElementVersion"}
LINK_KNOWN = {"ID", "FromID", "ToID", "LinkType", "Depiction"}


def local(element: etree._Element) -> str:
    """The local name of an element's tag."""
    tag: str = element.tag
    return tag.rpartition("}")[2]


def kids(element: etree._Element, name: str | None = None) -> list[etree._Element]:
    """Child elements (named ``name``, in the parent's namespace)."""
    if name is None:
        return [c for c in element if isinstance(c.tag, str)]
    tag: str = element.tag
    return list(element.iterchildren(tag[: tag.rfind("}") + 1] + name))


def text(element: etree._Element, name: str) -> str | None:
    """The stripped text of the first child ``name``, or None when there is none."""
    found = kids(element, name)
    return (found[0].text or "").strip() if found else None


def not_mapped(element: etree._Element) -> str:
    """``not mapped``, with the element's value when it has one (a parameter: name, value and unit)."""
    if local(element) == "Parameter":
        values = kids(element, "Value")
        parts = [text(values[0], "ValueString"), text(values[0], "UnitOfMeasure")] if values else []
        value = " ".join(p for p in parts if p)
        name = text(element, "Description") or text(element, "ID") or "?"
        return f"not mapped: {name} = {value!r}" if value else f"not mapped: {name} (no value)"
    content = " ".join(t.strip() for t in element.itertext() if isinstance(t, str) and t.strip())
    return f"not mapped: {content[:80]!r}" if content else "not mapped"


@dataclass
class Report:
    """What a reader could not map (``where``, ``what``) and the problems that refuse the import."""

    unmapped: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def note(self, where: str, what: str) -> None:
        self.unmapped.append((where, what))

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def others(self, element: etree._Element, where: str, known: set[str], *, descriptions: int = 1) -> None:
        """A line for each child of ``element`` not in ``known``, and each ``Description`` after ``descriptions``."""
        seen = 0
        namespace = etree.QName(element).namespace
        for child in kids(element):
            tag = local(child)
            seen += tag == "Description"
            if etree.QName(child).namespace != namespace:  # another vendor's extension: say whose
                self.note(f"{where}/{child.prefix or etree.QName(child).namespace}:{tag}", not_mapped(child))
            elif tag not in known or (tag == "Description" and seen > descriptions):
                self.note(f"{where}/{tag}", not_mapped(child))


@dataclass(frozen=True)
class Graph:
    """One level read: ordered local step ids (initial first) and transitions as authoring dicts."""

    order: list[str]
    transitions: list[dict[str, object]]


_STATE_COMPLETE = re.compile(r"^\s*([\w.\-]+)\s*\.\s*state\s*={1,2}\s*'?\"?complete'?\"?\s*$", re.IGNORECASE)
_WORDS = ((r"\bAND\b", " and "), (r"\bOR\b", " or "), (r"\bNOT\b", " not "), (r"\bTRUE\b", "True"))
_WORDS_FALSE = (r"\bFALSE\b", "False")


class LevelLogic:
    """Reads one ``ProcedureLogic``; ``steps`` maps each step id to our local id (Begin/End: None)."""

    def __init__(self, logic: etree._Element, where: str, report: Report) -> None:
        self.where, self.report = where, report
        self.steps: dict[str, str | None] = {}
        self.elements: dict[str, str] = {}
        self.step_order: list[str] = []
        self.conditions: dict[str, str | None] = {}
        self.links: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {}
        self.resolved: dict[tuple[str, int], tuple[str, str] | None] = {}
        self.logic = logic

    def read(
        self,
        element_of_step: Callable[[str, str], str | None],
        known_names: Callable[[], set[str]],
    ) -> Graph:
        """The graph; ``element_of_step(step id, element id)`` gives our local id, None for Begin/End."""
        for step in kids(self.logic, "Step"):
            sid = text(step, "ID") or ""
            self.report.others(step, f"{self.where}/Step[{sid}]", STEP_KNOWN)
            self.elements[sid] = text(step, "RecipeElementID") or ""
            local_id = element_of_step(sid, self.elements[sid])
            if sid in self.steps:
                self.report.problem(f"{self.where}/Step[{sid}]", "two steps with this ID; step IDs must be unique")
            self.steps[sid] = local_id
            self.step_order.append(sid)
        for transition in kids(self.logic, "Transition"):
            tid = text(transition, "ID") or ""
            self.report.others(transition, f"{self.where}/Transition[{tid}]", {"ID", "Condition"})
            if tid in self.conditions:
                self.report.problem(f"{self.where}/Transition[{tid}]", "two transitions with this ID")
            self.conditions[tid] = text(transition, "Condition")
        for link in kids(self.logic, "Link"):
            self._link(link)
        for child in kids(self.logic):
            if local(child) not in KINDS:
                self.report.note(f"{self.where}/{local(child)}", not_mapped(child))
        edges = self._edges()
        return self._graph(edges, known_names)

    def _end(self, link: etree._Element, side: str) -> tuple[str, str] | None:
        ends = kids(link, f"{side}ID")
        lid = text(link, "ID") or "?"
        if len(ends) != 1:
            self.report.problem(f"{self.where}/Link[{lid}]", f"needs exactly one {side}ID, has {len(ends)}")
            return None
        value = text(ends[0], f"{side}IDValue") or ""
        kind = text(ends[0], f"{side}Type") or ""
        return kind, value

    def _link(self, link: etree._Element) -> None:
        lid = text(link, "ID") or ""
        self.report.others(link, f"{self.where}/Link[{lid}]", LINK_KNOWN)
        source, target = self._end(link, "From"), self._end(link, "To")
        if lid in self.links:
            self.report.problem(f"{self.where}/Link[{lid}]", "two links with this ID; link IDs must be unique")
        if source and target:
            self.links[lid] = (source, target)

    def _node(self, kind: str, value: str, lid: str, side: str) -> tuple[str, str] | None:
        """A step or transition node (``("Step", id)``), a link id (``("Link", id)``), or None (a problem)."""
        tables: dict[str, object] = {"Step": self.steps, "Transition": self.conditions, "Link": self.links}
        kinds = [kind] if kind in tables else [k for k in KINDS if value in tables[k]]  # type: ignore[operator]
        if len(kinds) == 1 and value in tables[kinds[0]]:  # type: ignore[operator]
            return kinds[0], value
        self.report.problem(
            f"{self.where}/Link[{lid}]",
            f"{side}ID {value!r} ({kind or 'no type'}) names no step, transition or link here;"
            " a link must join existing elements",
        )
        return None

    def _resolve(self, lid: str, index: int) -> tuple[str, str] | None:
        """Where link ``lid`` starts (index 0) or ends (1), following junctions through other links."""
        path = [lid]
        result: tuple[str, str] | None
        while True:
            if (path[-1], index) in self.resolved:
                result = self.resolved[(path[-1], index)]
                break
            kind, value = self.links[path[-1]][index]
            node = self._node(kind, value, path[-1], ("From", "To")[index])
            if node is None or node[0] != "Link":
                result = node
                break
            if node[1] in path:
                self.report.problem(f"{self.where}/Link[{lid}]", "its junctions form a loop of links")
                result = None
                break
            path.append(node[1])
        for step in path:  # a long chain of junctions is followed once, not once per link
            self.resolved[(step, index)] = result
        return result

    def _edges(self) -> list[tuple[tuple[str, str], tuple[str, str], str]]:
        edges = []
        for lid in self.links:
            source, target = self._resolve(lid, 0), self._resolve(lid, 1)
            if source and target:
                edges.append((source, target, lid))
        return edges

    def _graph(self, edges: list[tuple[tuple[str, str], tuple[str, str], str]], known: Callable[[], set[str]]) -> Graph:
        # Ordered sets (dicts): a transition may have thousands of links.
        into: dict[str, dict[str, None]] = {t: {} for t in self.conditions}
        out_of: dict[str, dict[str, None]] = {t: {} for t in self.conditions}
        direct: list[tuple[str, str]] = []
        for (skind, sval), (tkind, tval), lid in edges:
            if skind == "Step" and tkind == "Transition":
                into[tval][sval] = None
            elif skind == "Transition" and tkind == "Step":
                out_of[sval][tval] = None
            elif skind == "Step" and tkind == "Step":
                direct.append((sval, tval))
            else:
                self.report.problem(
                    f"{self.where}/Link[{lid}]", f"joins a {skind} to a {tkind}; links join steps and transitions"
                )
        raw = [(tid, list(into[tid]), list(out_of[tid]), self.conditions[tid]) for tid in self.conditions]
        raw += [(f"link {a}→{b}", [a], [b], None) for a, b in direct]
        return self._transitions(raw, known)

    def _transitions(
        self, raw: list[tuple[str, list[str], list[str], str | None]], known: Callable[[], set[str]]
    ) -> Graph:
        initial: list[str] = []
        result: list[dict[str, object]] = []
        outgoing: dict[str, int] = {}
        for _, sources, _, _ in raw:
            for s in sources:
                outgoing[s] = outgoing.get(s, 0) + 1
        for tid, sources, targets, condition in raw:
            at = f"{self.where}/Transition[{tid}]"
            if not sources or not targets:
                self.report.problem(
                    at, f"has no link {'from' if not sources else 'to'} a step; connect it or remove it"
                )
                continue
            real_sources = [lid for s in sources if (lid := self.steps[s]) is not None]
            real_targets = [lid for t in targets if (lid := self.steps[t]) is not None]
            if not real_sources:  # from Begin
                initial += [t for t in real_targets if t not in initial]
                if condition and condition.strip().upper() != TRUE:
                    self.report.note(
                        at, f"condition {condition!r} before the first step not mapped (kept as text here)"
                    )
                continue
            if not real_targets:  # to End
                if condition and condition.strip().upper() != TRUE:
                    implied = self._implied(condition, sources)
                    self.report.note(at, IMPLIED if implied else f"condition {condition!r} before the end not mapped")
                continue
            entry: dict[str, object] = {"from": real_sources, "to": real_targets}
            when = self._condition(condition, sources, at, known, alternative=any(outgoing[s] > 1 for s in sources))
            if when:
                entry["when"] = when
            result.append(entry)
        order = [self.steps[s] for s in self.step_order if self.steps[s] is not None]
        if len(initial) > 1:
            self.report.problem(
                self.where,
                f"starts with {len(initial)} steps in parallel ({', '.join(map(str, initial))}); a recipe level"
                " starts with one step: add a first step before the split",
            )
        elif initial:
            order = [initial[0], *[s for s in order if s != initial[0]]]
        return Graph([s for s in order if s is not None], result)

    def _implied(self, condition: str, sources: Sequence[str]) -> bool:
        """``<source>.State = Complete``, the source named by step id, element id (or its last part) or ours."""
        found = _STATE_COMPLETE.match(condition)
        if not found:
            return False
        names = set(sources)
        for s in sources:
            element = self.elements.get(s, "")
            names |= {element, element.rsplit(".", 1)[-1], str(self.steps.get(s))}
        return found.group(1) in names

    def _condition(
        self,
        condition: str | None,
        sources: Sequence[str],
        at: str,
        known: Callable[[], set[str]],
        *,
        alternative: bool,
    ) -> str | None:
        if condition is None or not condition.strip() or condition.strip().upper() == TRUE:
            return None
        if self._implied(condition, sources):
            self.report.note(at, IMPLIED)
            return None
        translated = self._translate(condition)
        try:
            names = formula.parse(translated).names
        except formula.ExpressionError:
            names = None
        if names is not None and names <= known():
            return translated
        if alternative:
            self.report.problem(
                at,
                f"condition {condition!r} chooses between branches but is not in our condition language"
                " (names, numbers, == != < >, and/or/not): rewrite it",
            )
            return None
        self.report.note(at, f"condition {condition!r} not in our condition language: kept as text here; the"
                         " transition fires when its sources complete (review before approval)")  # fmt: skip
        return None

    def _translate(self, condition: str) -> str:
        out = condition.strip()
        for pattern, word in (*_WORDS, _WORDS_FALSE):
            out = re.sub(pattern, word, out)
        out = re.sub(r"<>", "!=", out)
        out = re.sub(r"(?<![=!<>])=(?!=)", "==", out)
        for sid, lid in self.steps.items():
            if lid is not None and sid != lid and re.fullmatch(r"[A-Za-z_][\w]*", sid):
                out = re.sub(rf"\b{re.escape(sid)}\b", lid, out)
        return " ".join(out.split())
