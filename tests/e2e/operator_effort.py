"""Measuring the operator's effort through a scripted browser run: clicks and keystrokes per step
(counted on the Playwright calls the script makes, as a person would make them) and the server's
own time for the requests of each step (from the access log's ``duration_ms``; live streams excluded),
and the request threads' CPU time beside it (``cpu_ms``: the same work without waiting for a busy machine).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.table import percentile

CLICKS = frozenset({"click", "check", "tap", "dblclick"})


@dataclass
class Effort:
    current: str = "(batch)"
    clicks: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    keys: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    server_ms: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cpu_ms: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    # Every timed request: (step, "METHOD path status", duration ms, CPU ms).
    log: list[tuple[str, str, float, float]] = field(default_factory=list)

    def report(self) -> str:
        steps = [s for s in self.clicks.keys() | self.server_ms.keys() if s != "(batch)"]
        steps.sort(key=lambda p: [int(x) if x.isdigit() else x for x in p.replace("UP", "").split(".")])
        lines = [f"{'step':<14}{'clicks':>7}{'keys':>6}{'requests':>10}{'server ms':>11}{'cpu ms':>9}"]
        for s in steps:
            lines.append(
                f"{s:<14}{self.clicks[s]:>7}{self.keys[s]:>6}{self.requests[s]:>10}{self.server_ms[s]:>11.1f}"
                f"{self.cpu_ms[s]:>9.1f}"
            )
        per_step = sorted(self.server_ms[s] for s in steps)
        cpu = sorted(self.cpu_ms[s] for s in steps)
        lines.append(
            f"{len(steps)} steps: clicks {sum(self.clicks[s] for s in steps)}, keystrokes "
            f"{sum(self.keys[s] for s in steps)}; server time per step p50 {percentile(per_step, 50):.1f} ms, "
            f"p95 {percentile(per_step, 95):.1f} ms, max {max(per_step, default=0):.1f} ms; "
            f"CPU p50 {percentile(cpu, 50):.1f} ms, p95 {percentile(cpu, 95):.1f} ms"
        )
        return "\n".join(lines)

    def requests_report(self) -> str:
        """Every timed request in order, with its step, server time and CPU time."""
        return "\n".join(f"{step:<14}{ms:>9.1f}{cpu:>9.1f}  {line}" for step, line, ms, cpu in self.log)


class Counted:
    """A Playwright page, locator or keyboard whose user actions are counted on ``effort``."""

    def __init__(self, target: Any, effort: Effort) -> None:
        self._target, self._effort = target, effort

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name == "keyboard":
            return Counted(attr, self._effort)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            effort, step = self._effort, self._effort.current
            if name in CLICKS:
                effort.clicks[step] += 1
            elif name in ("fill", "type"):
                effort.keys[step] += len(str(args[0] if args else kwargs.get("value", "")))
            elif name == "press":
                effort.keys[step] += 1
            elif name == "select_option":
                effort.clicks[step] += 2  # open the list, pick
            result = attr(*args, **kwargs)
            return Counted(result, effort) if hasattr(result, "click") or hasattr(result, "press") else result

        return call


class _ServerTime(logging.Handler):
    def __init__(self, effort: Effort) -> None:
        super().__init__(logging.INFO)
        self.effort = effort

    def emit(self, record: logging.LogRecord) -> None:
        path = str(record.args[1]) if isinstance(record.args, tuple) and len(record.args) > 1 else ""
        duration = getattr(record, "duration_ms", None)
        if duration is None or path.startswith("/live/") or path.startswith("/assets/"):
            return
        step, cpu = self.effort.current, float(getattr(record, "cpu_ms", 0.0))
        self.effort.server_ms[step] += float(duration)
        self.effort.cpu_ms[step] += cpu
        self.effort.requests[step] += 1
        self.effort.log.append((step, record.getMessage(), float(duration), cpu))


@contextmanager
def measured(effort: Effort) -> Iterator[None]:
    logger = logging.getLogger("ebr.web.access")
    handler, level = _ServerTime(effort), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def write(effort: Effort, path: Path) -> str:
    text = effort.report()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    path.with_name(f"{path.stem}-requests.txt").write_text(effort.requests_report() + "\n", encoding="utf-8")
    return text
