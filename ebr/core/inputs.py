"""The one boundary every file the system reads passes (foundation): bytes, text, YAML, XML.

Recipes, the plant configuration and, later, ERP messages come from outside and are
read here before any of our code looks at them::

    read_file(path)      size checked before a byte is read (the limit from settings)
    decode(data)         BOM or UTF-8, strict; control characters refused
    load_yaml(data)      safe loader: no duplicate keys, no aliases, plain numbers only
    parse_xml(data)      lxml without DTDs, entities or network; the attack named
    plain_decimal(text)  a number as people write it (ASCII digits, no exponent)

Every refusal is an :class:`InputError` whose message is one line naming the file,
the place in it and the problem, with what to do::

    recipe.yaml: line 12, column 5: duplicate key 'unit' (first at line 11): keep one

Limits (:class:`Limits`) come from settings (``EBR_INPUT_MAX_BYTES``,
``EBR_INPUT_MAX_NODES``); nothing here stores anything.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Hashable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from ebr.core.errors import ValidationError

__all__ = [
    "InputError",
    "Limits",
    "decode",
    "is_xml",
    "load_yaml",
    "parse_xml",
    "plain_decimal",
    "read_file",
]


@dataclass(frozen=True)
class Limits:
    """How much one input may hold: bytes, nodes (XML elements or YAML values), digits of a number."""

    max_bytes: int = 16 * 1024 * 1024
    max_nodes: int = 500_000
    max_digits: int = 30


DEFAULT = Limits()


class InputError(ValidationError):
    """An input refused at the boundary; the message is one line: ``source: where: problem``."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        super().__init__(f"{source}: {where}: {problem}")
        self.source, self.where, self.problem = source, where, problem


# -- bytes and text -------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 controls but tab, LF and CR; DEL and C1 controls; surrogates; non-characters.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def read_file(path: str | Path, *, limits: Limits = DEFAULT) -> bytes:
    """The bytes of ``path``, refused before reading when larger than ``limits.max_bytes``."""
    file = Path(path)
    try:
        with file.open("rb") as stream:
            data = stream.read(limits.max_bytes + 1)
    except OSError as exc:
        raise InputError(str(path), "file", f"cannot be read: {exc.strerror or exc}") from None
    check_size(data, str(path), limits=limits)
    return data


def check_size(data: bytes, source: str, *, limits: Limits = DEFAULT) -> None:
    """Refuse ``data`` larger than ``limits.max_bytes``."""
    if len(data) > limits.max_bytes:
        raise InputError(
            source,
            "file",
            f"larger than the limit of {limits.max_bytes:,} bytes (EBR_INPUT_MAX_BYTES): split it or raise the limit",
        )


def _encoding(data: bytes) -> tuple[str, int]:
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, 0
    return "utf-8", 0


def _line_col(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"line {line}, column {offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def decode(data: bytes, source: str, *, limits: Limits = DEFAULT) -> str:
    """Text of ``data``: UTF-8 unless a byte-order mark says UTF-16/32; control characters refused."""
    check_size(data, source, limits=limits)
    encoding, _ = _encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode(encoding, errors="replace")
        raise InputError(
            source,
            f"{_line_col(before, len(before))} (byte {exc.start})",
            f"byte 0x{data[exc.start]:02x} is not valid {encoding.upper().removesuffix('-SIG')}: "
            "save the file as UTF-8",
        ) from None
    text = text.removeprefix("\ufeff")
    check_characters(text, source)
    return text


def check_characters(text: str, source: str) -> None:
    """Refuse control characters, surrogates and non-characters (NUL, ESC, U+FFFF) in ``text``."""
    bad = _FORBIDDEN.search(text)
    if bad:
        raise InputError(
            source,
            _line_col(text, bad.start()),
            f"control character U+{ord(bad.group()):04X} is not allowed in a text file: remove it",
        )


def is_xml(data: bytes) -> bool:
    """True when ``data`` (any BOM, leading blanks) starts with ``<``: an XML document."""
    encoding, _ = _encoding(data)
    head = data[:512].decode(encoding, errors="ignore").lstrip("\ufeff \t\r\n")
    return head.startswith("<")


# -- numbers --------------------------------------------------------------------------------

# No leading zeros: YAML 1.1 reads 017 as octal 15, people read it as 17.
_DECIMAL = re.compile(r"[-+]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)")


_NUMBER_HINT = "(write digits 0-9 with an optional point; no exponent, hex, _ or other digits)"


def number_problem(text: str, *, limits: Limits = DEFAULT) -> str | None:
    """Why ``text`` is not a plain decimal number (``12``, ``-0.50``), or None when it is one."""
    if not _DECIMAL.fullmatch(text):
        return f"not a decimal: {text[:40]!r} {_NUMBER_HINT}"
    digits = sum(c.isdigit() for c in text.lstrip("+-").lstrip("0.") or "0")
    if digits > limits.max_digits:
        return f"a number of {digits} digits is longer than the {limits.max_digits} digits a quantity can have"
    return None


def plain_decimal(text: str, *, limits: Limits = DEFAULT) -> Decimal:
    """``text`` as a Decimal when it is a plain decimal number; ValueError saying why not."""
    problem = number_problem(text, limits=limits)
    if problem:
        raise ValueError(problem)
    return Decimal(text)


# -- YAML -----------------------------------------------------------------------------------

_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_NO_ALIAS = "aliases are not allowed: write it out"


class _StrictLoader(_SafeBase):  # type: ignore[valid-type,misc]
    """Safe loading that refuses duplicate keys, aliases, non-plain numbers and too many nodes."""

    limits: Limits = DEFAULT
    floats: bool = False
    nodes: int = 0
    seen: set[int]

    def _children(self, node: yaml.Node, children: list[yaml.Node]) -> None:
        """Count ``children`` against the limit; one already built is an alias (``*name``) of it."""
        self.nodes += len(children)
        if self.nodes > self.limits.max_nodes:
            raise _refuse(node, f"more than {self.limits.max_nodes:,} values (EBR_INPUT_MAX_NODES)")
        seen = self.seen
        for child in children:
            if id(child) in seen:
                raise _refuse(child, f"this value is used again by an alias (*name); {_NO_ALIAS}")
            seen.add(id(child))

    def construct_sequence(self, node: yaml.Node, deep: bool = False) -> list[Any]:
        if not isinstance(node, yaml.SequenceNode):
            raise _refuse(node, "expected a sequence")
        self._children(node, node.value)
        return [self.construct_object(child, deep=deep) for child in node.value]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise _refuse(node, "expected a mapping")
        self._children(node, [n for pair in node.value for n in pair])
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _refuse(key_node, "merge keys (<<) are not allowed: write the keys out")
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                raise _refuse(key_node, "a key must be a plain value, not a list or mapping")
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise _refuse(key_node, f"duplicate key {key!r} (first at line {first}): keep one")
            seen[key] = key_node
        # The keys are constructed above; constructing them again would look like an alias.
        return {self.constructed_objects[k]: self.construct_object(v, deep=deep) for k, v in node.value}

    def construct_plain_number(self, node: yaml.ScalarNode) -> Any:
        text = str(node.value)
        problem = number_problem(text, limits=self.limits)
        if problem:
            raise _refuse(node, f"{problem}; quote it if it is text")
        if self.floats:
            return float(text) if "." in text else int(text)
        return Decimal(text)

    def construct_text(self, node: yaml.ScalarNode) -> str:
        text = str(self.construct_scalar(node))
        # The raw text was checked before parsing; only a double-quoted escape can add a character.
        bad = _FORBIDDEN.search(text) if node.style == '"' else None
        if bad:  # written as an escape ("\0", "\e") it passed the reader
            raise _refuse(node, f"control character U+{ord(bad.group()):04X} is not allowed in a text: remove it")
        return text


def _refuse(node: yaml.Node, problem: str) -> yaml.MarkedYAMLError:
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_plain_number)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_plain_number)
_StrictLoader.add_constructor("tag:yaml.org,2002:str", _StrictLoader.construct_text)


def load_yaml(
    data: bytes | str, source: str, *, limits: Limits = DEFAULT, floats: bool = False, checked: bool = False
) -> Any:
    """The document in ``data`` (safe types; numbers as Decimal, or int/float with ``floats``).

    Refuses, each in one line with its line and column: bad encoding, control
    characters, duplicate keys, aliases and merge keys, numbers that are not plain
    decimals (``0x10``, ``1_000``, ``1.0e+400``, ``.inf``, ``017``, ``1:30``), more
    than ``limits.max_nodes`` values. ``checked``: ``data`` is text that came from :func:`decode`.
    """
    text = data if isinstance(data, str) else decode(data, source, limits=limits)
    if isinstance(data, str) and not checked:
        check_characters(text, source)
    loader = _StrictLoader(text)
    loader.limits, loader.floats, loader.nodes, loader.seen = limits, floats, 0, set()
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
        problem = exc.problem or exc.context or "malformed"
        if not isinstance(exc, yaml.constructor.ConstructorError):
            problem = f"not valid YAML: {problem}"
        raise InputError(source, where, problem) from None
    except yaml.YAMLError as exc:
        raise InputError(source, "document", f"not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise InputError(source, "document", "nested too deeply to be a recipe or configuration") from None
    finally:
        loader.dispose()


# -- XML ------------------------------------------------------------------------------------

_DOCTYPE = re.compile(r"<!(DOCTYPE|ENTITY)\b")
_EXTERNAL = re.compile(r"<!ENTITY\s+%?\s*[^\s>]+\s+(SYSTEM|PUBLIC)\b")


def _dtd_attack(text: str) -> str | None:
    """What a DTD in ``text`` could do, or None when there is none."""
    found = _DOCTYPE.search(text)
    if not found:
        return None
    if _EXTERNAL.search(text) or re.search(r"<!DOCTYPE\s+\S+\s+(SYSTEM|PUBLIC)\b", text):
        return (
            "a DTD with an external entity or reference is refused (XXE, XML external entity attack:"
            " it would read a file or the network): remove the <!DOCTYPE …>"
        )
    if "<!ENTITY" in text:
        return (
            "a DTD with entity declarations is refused (entity expansion attack, 'billion laughs'):"
            " remove the <!DOCTYPE …> and write the text out"
        )
    return "a DTD (<!DOCTYPE …>) is refused (DTDs carry entity attacks: billion laughs, XXE): remove it"


def parse_xml(data: bytes, source: str, *, limits: Limits = DEFAULT) -> etree._ElementTree:
    """The parsed document: no DTD, no entities, no network, at most ``limits.max_nodes`` elements."""
    check_size(data, source, limits=limits)
    encoding, _ = _encoding(data)
    text = data.decode(encoding, errors="replace")
    attack = _dtd_attack(text)
    if attack:
        found = _DOCTYPE.search(text)
        raise InputError(source, _line_col(text, found.start() if found else 0), attack)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno or 0, 0)
        raise InputError(source, f"line {line}, column {column}", f"not well-formed XML: {exc.msg}") from None
    tree = etree.ElementTree(root)
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise InputError(source, "document", _dtd_attack("<!DOCTYPE") or "DTD refused")
    count = 0
    for element in root.iter():
        if not isinstance(element.tag, str):
            if isinstance(element, etree._Entity):
                raise InputError(source, f"line {element.sourceline}", "entity references are not allowed")
            continue
        count += 1
        if count > limits.max_nodes:
            raise InputError(
                source, f"line {element.sourceline}", f"more than {limits.max_nodes:,} elements (EBR_INPUT_MAX_NODES)"
            )
    return tree
