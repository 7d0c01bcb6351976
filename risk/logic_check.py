"""Static checks for the JsonLogic subset: structure, arity, operand types and enum literals.

The checker runs once per ruleset upload, so it favours complete, readable messages over
speed; the compiler (risk.logic) trusts what passes here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .facts import FACT_FIELDS, FIELD_VALUES

# Bounds for hostile input: operations cost time on every fact, so they are capped tightly;
# literal values (long lists of area codes, say) are cheap and get more room.
MAX_DEPTH = 32
MAX_OPERATIONS = 250
MAX_NODES = 10_000
MAX_PROBLEMS = 20

COMPARISONS = frozenset({"==", "!=", "===", "!=="})
ORDERINGS = frozenset({"<", "<=", ">", ">="})
ARITHMETIC = frozenset({"+", "-", "*", "/", "min", "max"})
ITERATORS = frozenset({"some", "all", "none"})
OPERATORS = frozenset(
    {"var", "and", "or", "!", "!!", "if", "in"} | COMPARISONS | ORDERINGS | ARITHMETIC | ITERATORS
)

# (min, max) argument counts; None means unbounded.
_ARITY: dict[str, tuple[int, int | None]] = {
    **{op: (2, 2) for op in COMPARISONS | {">", ">=", "in", "/"} | ITERATORS},
    "<": (2, 3),
    "<=": (2, 3),
    "and": (1, None),
    "or": (1, None),
    "!": (1, 1),
    "!!": (1, 1),
    "if": (1, None),
    "+": (1, None),
    "*": (1, None),
    "-": (1, 2),
    "min": (1, None),
    "max": (1, None),
}

_NO_CONST = object()


@dataclass(frozen=True, slots=True)
class T:
    """Static type of an expression: base is number|string|bool|null|list|any."""

    base: str
    enum: str | None = None  # FIELD_VALUES key constraining a string (or a list's elements)
    elem: T | None = None
    const: Any = _NO_CONST  # literal value (a tuple of element literals for a literal list)


ANY = T("any")
BOOL = T("bool")
NUMBER = T("number")
_FIELD_TYPES = {
    name: (
        T("list", elem=T("string", enum=name if name in FIELD_VALUES else None))
        if kind == "list[string]"
        else T(kind, enum=name if name in FIELD_VALUES else None)
    )
    for name, kind in FACT_FIELDS.items()
}


def short(value: Any) -> str:
    """repr() capped in length, so hostile input cannot blow up a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(t: T) -> str:
    if t.base == "list":
        return f"list of {describe(t.elem or ANY)}"
    if t.const is not _NO_CONST and t.base in ("string", "number"):
        return f"{t.base} {short(t.const)}"
    return t.base


def is_literal(node: Any) -> bool:
    if isinstance(node, list):
        return all(is_literal(item) for item in node)
    return not isinstance(node, dict)


def check_logic(expr: Any) -> list[str]:
    """Problems with a `when` expression; empty when it is valid for the engine."""
    checker = _Checker()
    if not isinstance(expr, dict):
        return ["must be a JsonLogic operation (an object such as {\"==\": [...]})"]
    checker.check(expr, "", 0, None)
    return checker.problems


def _join(types: list[T]) -> T:
    first = types[0]
    if all(t.base == first.base and t.enum == first.enum for t in types[1:]):
        return T(first.base, first.enum, first.elem)
    return ANY


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.nodes = 0
        self.operations = 0
        self.too_big = False

    def add(self, path: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{path or 'top'}: {message}")
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("more problems not shown")

    def check(self, node: Any, path: str, depth: int, scope: T | None) -> T:
        # scope is the element type inside some/all/none, None at the top (the fact).
        self.nodes += 1
        self.operations += isinstance(node, dict)
        if self.nodes > MAX_NODES or self.operations > MAX_OPERATIONS or depth > MAX_DEPTH:
            if not self.too_big:
                self.too_big = True
                self.add(path, f"expression too large (at most depth {MAX_DEPTH}, "
                               f"{MAX_OPERATIONS} operations and {MAX_NODES} values)")
            return ANY
        if isinstance(node, dict):
            return self.operation(node, path, depth, scope)
        if isinstance(node, list):
            items = [self.check(x, f"{path}[{i}]", depth + 1, scope) for i, x in enumerate(node)]
            elem = _join(items) if items else ANY
            consts = tuple(t.const for t in items)
            if _NO_CONST in consts:
                return T("list", elem=elem)
            return T("list", elem=elem, const=consts)
        if node is None:
            return T("null", const=None)
        if isinstance(node, bool):
            return T("bool", const=node)
        if isinstance(node, int | float):
            if not math.isfinite(node):
                self.add(path, "numbers must be finite")
                return ANY
            return T("number", const=node)
        if isinstance(node, str):
            return T("string", const=node)
        self.add(path, f"not valid JsonLogic: unsupported value of type {type(node).__name__}")
        return ANY

    def operation(self, node: dict, path: str, depth: int, scope: T | None) -> T:
        if len(node) != 1:
            keys = ", ".join(short(k) for k in list(node)[:5])
            self.add(path, "not valid JsonLogic: an operation has exactly one key, "
                           f"got {keys or 'none'}")
            return ANY
        ((op, raw),) = node.items()
        if not isinstance(op, str) or op not in OPERATORS:
            self.add(path, f"not valid JsonLogic: unknown operator {short(op)}")
            return ANY
        here = f"{path}.{op}" if path else op
        if op == "var":
            return self.var(raw, here, scope)
        args = raw if isinstance(raw, list) else [raw]
        low, high = _ARITY[op]
        if len(args) < low or (high is not None and len(args) > high):
            count = f"{low}-{high}" if high is not None else f"{low} or more"
            count = f"{low}" if low == high else count
            self.add(here, f"takes {count} arguments, got {len(args)}")
            return ANY
        if op in ITERATORS:
            return self.iterator(args, here, depth, scope)
        types = [self.check(a, f"{here}[{i}]", depth + 1, scope) for i, a in enumerate(args)]
        if op in COMPARISONS:
            self.comparable(types, here)
            return BOOL
        if op in ORDERINGS or op in ARITHMETIC:
            for i, t in enumerate(types):
                if t.base not in ("number", "any"):
                    self.add(f"{here}[{i}]", f"{op!r} needs numbers, got {describe(t)}")
            return BOOL if op in ORDERINGS else NUMBER
        if op == "in":
            self.membership(types[0], types[1], here)
            return BOOL
        if op in ("!", "!!"):
            return BOOL
        if op == "if":
            results = types[1::2] + ([types[-1]] if len(types) % 2 else [])
            return _join(results)
        return _join(types)  # and / or return one of their operands

    def var(self, raw: Any, path: str, scope: T | None) -> T:
        args = raw if isinstance(raw, list) else [raw]
        if not 1 <= len(args) <= 2 or not isinstance(args[0], str):
            self.add(path, "takes a field name (a string) and an optional default literal")
            return ANY
        name = args[0]
        if scope is not None:
            if name != "":
                self.add(path, 'inside some/all/none only {"var": ""} (the current element) '
                               "is available")
                return ANY
            found = scope
        elif name == "":
            self.add(path, '{"var": ""} is only meaningful inside some/all/none')
            return ANY
        elif name not in _FIELD_TYPES:
            self.add(path, f"unknown fact field {short(name)}; known fields: "
                           f"{', '.join(sorted(_FIELD_TYPES))}")
            return ANY
        else:
            found = _FIELD_TYPES[name]
        if len(args) == 2:
            default = args[1]
            if not is_literal(default):
                self.add(path, "the default must be a literal value")
            elif default is not None:
                self.comparable([found, self.check(default, path, 0, scope)], path)
        return found

    def iterator(self, args: list, path: str, depth: int, scope: T | None) -> T:
        seq = self.check(args[0], f"{path}[0]", depth + 1, scope)
        if seq.base not in ("list", "any"):
            self.add(f"{path}[0]", f"needs a list, got {describe(seq)}")
        self.check(args[1], f"{path}[1]", depth + 1, seq.elem or ANY)
        return BOOL

    def comparable(self, types: list[T], path: str) -> None:
        a, b = types
        if "null" in (a.base, b.base):
            self.add(path, "comparisons involving null are always false; use {\"!\": ...}")
            return
        if "any" not in (a.base, b.base) and a.base != b.base:
            self.add(path, f"cannot compare {describe(a)} with {describe(b)}")
            return
        self.enum_literal(a, b, path)
        self.enum_literal(b, a, path)

    def enum_literal(self, field: T, other: T, path: str) -> None:
        if other.const is _NO_CONST:
            return
        if field.base == "string" and field.enum and other.base == "string":
            self.allowed(field.enum, [other.const], path)
        elif field.base == "list" and field.elem and field.elem.enum and other.base == "list":
            self.allowed(field.elem.enum, list(other.const), path)

    def allowed(self, enum: str, values: list, path: str) -> None:
        allowed = FIELD_VALUES[enum]
        bad = [v for v in values if isinstance(v, str) and v not in allowed]
        if bad:
            shown = ", ".join(map(short, bad[:5])) + (", ..." if len(bad) > 5 else "")
            self.add(path, f"{shown} is not a valid {enum} value; allowed: {', '.join(allowed)}")

    def membership(self, item: T, container: T, path: str) -> None:
        if container.base == "list":
            elem = container.elem or ANY
            if "any" in (item.base, elem.base) or item.base == elem.base:
                if item.base == "string" and item.enum and container.const is not _NO_CONST:
                    self.allowed(item.enum, list(container.const), path)
                if elem.base == "string" and elem.enum and item.const is not _NO_CONST:
                    self.allowed(elem.enum, [item.const], path)
                return
        elif (container.base == "string" and item.base in ("string", "any")) or (
            container.base == "any" and item.base in ("string", "number", "any")
        ):
            return
        self.add(path, f"'in' needs a value and a list of the same type, or two strings; "
                       f"got {describe(item)} and {describe(container)}")
