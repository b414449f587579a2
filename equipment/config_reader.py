"""Reading a parsed YAML mapping while collecting every problem with its path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


class Reader:
    """Collects problems with their paths while reading a mapping."""

    def __init__(self, base: Path | None) -> None:
        self.problems: list[str] = []
        self.base = base

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.problems.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return {}
        return value

    def get(
        self, data: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any = ...
    ) -> Any:
        if key not in data:
            if default is ...:
                self.problems.append(f"{path}.{key}: missing")
            return None if default is ... else default
        value = data[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            self.problems.append(f"{path}.{key}: expected a number, got {value!r}")
            return None if default is ... else default
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.problems.append(f"{path}.{key}: expected {names}, got {value!r}")
            return None if default is ... else default
        return value

    def choice(self, data: Mapping[str, Any], key: str, path: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(data, key, path, str, default)
        if value not in choices:
            self.problems.append(f"{path}.{key}: {value!r} is not one of {', '.join(choices)}")
            return default
        return str(value)

    def _path(self, data: Mapping[str, Any], key: str, path: str) -> Path | None:
        """``data[key]`` as a path, relative ones resolved against the file's folder."""
        raw = self.get(data, key, path, str, None)
        if raw is None:
            return None
        candidate = Path(raw)
        return self.base / candidate if not candidate.is_absolute() and self.base is not None else candidate

    def file(self, data: Mapping[str, Any], key: str, path: str) -> Path | None:
        candidate = self._path(data, key, path)
        if candidate is None:
            return None
        if not candidate.is_file():
            self.problems.append(f"{path}.{key}: file {candidate} does not exist")
        return candidate

    def certificate_dir(self, data: Mapping[str, Any], key: str, path: str) -> Path | None:
        """A folder that must hold at least one certificate or CRL file (``.der`` or ``.pem``)."""
        candidate = self._path(data, key, path)
        if candidate is None:
            return None
        if not candidate.is_dir():
            self.problems.append(f"{path}.{key}: folder {candidate} does not exist")
        elif not any(f.suffix.lower() in (".der", ".pem") for f in candidate.iterdir() if f.is_file()):
            where = f"{path}.{key}: folder {candidate}"
            self.problems.append(f"{where} holds no .der or .pem file; put the certificates there")
        return candidate
