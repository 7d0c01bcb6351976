"""Compile checked JsonLogic into Python closures (no eval/exec).

A compiled expression takes one argument: the Fact at the top level, or the current list
element inside some/all/none. Fields are read straight off the Fact instead of building an
env dict per fact, which is most of what makes the engine fast. Closures never raise on odd
data: a wrong runtime type makes the comparison false and arithmetic None.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .logic_check import check_logic, is_literal

Compiled = Callable[[Any], Any]

_MISSING = object()


def compile_logic(expr: Any) -> Compiled:
    """Compile an expression; raises ValueError if check_logic finds problems."""
    problems = check_logic(expr)
    if problems:
        raise ValueError("; ".join(problems))
    return _compile(expr)


def compile_checked(expr: Any) -> Compiled:
    """Compile an expression that has already passed check_logic (or is a literal)."""
    return _compile(expr)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _compile(node: Any) -> Compiled:
    if isinstance(node, dict):
        ((op, raw),) = node.items()
        if op == "var":
            return _var(raw)
        args = raw if isinstance(raw, list) else [raw]
        return _OPS[op](args)
    if isinstance(node, list):
        if is_literal(node):
            value = list(node)
            return lambda ctx: value
        items = [_compile(x) for x in node]
        return lambda ctx: [f(ctx) for f in items]
    return lambda ctx: node


def _const(node: Any) -> Any:
    """The value of a literal operand, or _MISSING when it must be computed."""
    if isinstance(node, dict) or (isinstance(node, list) and not is_literal(node)):
        return _MISSING
    return node


def _var(raw: Any) -> Compiled:
    args = raw if isinstance(raw, list) else [raw]
    name, default = args[0], (args[1] if len(args) > 1 else None)
    if name == "":
        return lambda ctx: ctx
    if name == "kind":
        return lambda ctx: ctx.kind
    if name == "source":
        return lambda ctx: ctx.source
    if default is None:
        return lambda ctx: ctx.data.get(name)

    def with_default(ctx: Any) -> Any:
        value = ctx.data.get(name)
        return default if value is None else value

    return with_default


def _compare(test: Callable[[Any, Any], bool]) -> Callable[[list], Compiled]:
    # Binds a literal right-hand side directly: "field OP literal" is the common shape.
    def build(args: list) -> Compiled:
        if len(args) == 3:
            return _between(test, args)
        left, right = _compile(args[0]), _const(args[1])
        if right is not _MISSING:
            if right is None:
                return lambda ctx: False

            def against_literal(ctx: Any) -> bool:
                a = left(ctx)
                if a is None:
                    return False
                try:
                    return test(a, right)
                except TypeError:
                    return False

            return against_literal
        other = _compile(args[1])

        def against_expr(ctx: Any) -> bool:
            a, b = left(ctx), other(ctx)
            if a is None or b is None:
                return False
            try:
                return test(a, b)
            except TypeError:
                return False

        return against_expr

    return build


def _between(test: Callable[[Any, Any], bool], args: list) -> Compiled:
    fa, fb, fc = (_compile(a) for a in args)

    def between(ctx: Any) -> bool:
        a, b, c = fa(ctx), fb(ctx), fc(ctx)
        if a is None or b is None or c is None:
            return False
        try:
            return test(a, b) and test(b, c)
        except TypeError:
            return False

    return between


def _category(x: Any) -> type:
    return float if _is_number(x) else type(x)


def _strict_eq(a: Any, b: Any) -> bool:
    return _category(a) is _category(b) and a == b


def _junction(stop_on: bool) -> Callable[[list], Compiled]:
    # and stops at the first falsy operand, or at the first truthy one; both return it.
    def build(args: list) -> Compiled:
        fs = [_compile(a) for a in args]
        if len(fs) == 2:  # the common shape, without a loop
            f, g = fs
            if stop_on:
                return lambda ctx: f(ctx) or g(ctx)
            return lambda ctx: f(ctx) and g(ctx)

        def junction(ctx: Any) -> Any:
            value = None
            for f in fs:
                value = f(ctx)
                if bool(value) is stop_on:
                    break
            return value

        return junction

    return build


def _not(args: list) -> Compiled:
    f = _compile(args[0])
    return lambda ctx: not f(ctx)


def _truthy(args: list) -> Compiled:
    f = _compile(args[0])
    return lambda ctx: bool(f(ctx))


def _if(args: list) -> Compiled:
    pairs = [(_compile(args[i]), _compile(args[i + 1])) for i in range(0, len(args) - 1, 2)]
    otherwise = _compile(args[-1]) if len(args) % 2 else (lambda ctx: None)

    def choose(ctx: Any) -> Any:
        for cond, then in pairs:
            if cond(ctx):
                return then(ctx)
        return otherwise(ctx)

    return choose


def _in(args: list) -> Compiled:
    item = _compile(args[0])
    literal = _const(args[1])
    if isinstance(literal, list) and all(isinstance(v, str | int | float) for v in literal):
        # A frozenset turns "x in [a, b, c]" into one hash lookup.
        members = frozenset(literal)

        def in_set(ctx: Any) -> bool:
            try:
                return item(ctx) in members
            except TypeError:
                return False

        return in_set
    container = _compile(args[1])

    def in_container(ctx: Any) -> bool:
        seq = container(ctx)
        if not isinstance(seq, list | tuple | str):
            return False
        try:
            return item(ctx) in seq
        except TypeError:
            return False

    return in_container


def _iterator(mode: str) -> Callable[[list], Compiled]:
    def build(args: list) -> Compiled:
        source, cond = _compile(args[0]), _compile(args[1])
        members = _element_in_literal(args[1])

        def iterate(ctx: Any) -> bool:
            seq = source(ctx)
            if not isinstance(seq, list | tuple) or not seq:
                return mode == "none"
            if members is not None and mode != "all":
                try:
                    return members.isdisjoint(seq) == (mode == "none")
                except TypeError:
                    pass  # an unhashable element: fall back to testing one by one
            if mode == "all":
                return all(cond(x) for x in seq)
            hit = any(cond(x) for x in seq)
            return hit if mode == "some" else not hit

        return iterate

    return build


def _element_in_literal(cond: Any) -> frozenset | None:
    """For {"in": [{"var": ""}, [literals]]}: the literal set, so some/none is a set test."""
    if not isinstance(cond, dict) or list(cond) != ["in"]:
        return None
    args = cond["in"]
    if not isinstance(args, list) or len(args) != 2 or args[0] not in ({"var": ""}, {"var": [""]}):
        return None
    literal = args[1]
    if isinstance(literal, list) and all(isinstance(v, str | int | float) for v in literal):
        return frozenset(literal)
    return None


def _arith(op: str) -> Callable[[list], Compiled]:
    def build(args: list) -> Compiled:
        fs = [_compile(a) for a in args]

        def compute(ctx: Any) -> Any:
            values = [f(ctx) for f in fs]
            if not all(_is_number(v) for v in values):
                return None
            try:
                return _apply(op, values)
            except ArithmeticError:  # huge ints do not fit a float
                return None

        return compute

    return build


def _apply(op: str, values: list) -> Any:
    if op == "+":
        return sum(values)
    if op == "*":
        product = 1
        for v in values:
            product *= v
        return product
    if op == "-":
        return -values[0] if len(values) == 1 else values[0] - values[1]
    if op == "/":
        return values[0] / values[1] if values[1] else None
    return min(values) if op == "min" else max(values)


_OPS: dict[str, Callable[[list], Compiled]] = {
    "==": _compare(operator.eq),
    "!=": _compare(operator.ne),
    "===": _compare(_strict_eq),
    "!==": _compare(lambda a, b: not _strict_eq(a, b)),
    "<": _compare(operator.lt),
    "<=": _compare(operator.le),
    ">": _compare(operator.gt),
    ">=": _compare(operator.ge),
    "and": _junction(stop_on=False),
    "or": _junction(stop_on=True),
    "!": _not,
    "!!": _truthy,
    "if": _if,
    "in": _in,
    "some": _iterator("some"),
    "all": _iterator("all"),
    "none": _iterator("none"),
    **{op: _arith(op) for op in ("+", "-", "*", "/", "min", "max")},
}
