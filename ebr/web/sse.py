"""Server-sent events shared by the live pages (execution) and the andon board (performance)."""

from __future__ import annotations


def sse_message(event: str, html: str) -> str:
    """One SSE message; each line of ``html`` becomes a ``data:`` line."""
    lines = html.splitlines() or [""]
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"
