"""Static analysis of a rule's condition: which fact kinds it can match.

The engine indexes rules by these kinds so each fact is only tried against rules that can
match it, and drops the kind test from the compiled condition since the index settles it.
"""

from __future__ import annotations

from typing import Any


def split_kinds(expr: Any) -> tuple[frozenset[str] | None, Any]:
    """The fact kinds `expr` can match (None: any kind) and the rest of the condition.

    Recognises a kind test at the top or as a clause of a top-level "and", so the engine
    only tries a rule on facts of those kinds and need not re-test the kind itself.
    """
    clauses = expr["and"] if isinstance(expr, dict) and list(expr) == ["and"] else [expr]
    if not isinstance(clauses, list):
        clauses = [clauses]
    kinds: frozenset[str] | None = None
    rest = []
    for clause in clauses:
        found = _kind_test(clause)
        if found is None:
            rest.append(clause)
        else:
            kinds = found if kinds is None else kinds & found
    if kinds is None:
        return None, expr
    if not rest:
        return kinds, True
    return kinds, rest[0] if len(rest) == 1 else {"and": rest}


def _kind_test(clause: Any) -> frozenset[str] | None:
    if not isinstance(clause, dict) or len(clause) != 1:
        return None
    ((op, args),) = clause.items()
    if op not in ("==", "===", "in") or not isinstance(args, list) or len(args) != 2:
        return None
    if op != "in" and args[1] == {"var": "kind"}:
        args = [args[1], args[0]]
    if args[0] not in ({"var": "kind"}, {"var": ["kind"]}):
        return None
    value = args[1]
    if op != "in" and isinstance(value, str):
        return frozenset({value})
    if op == "in" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return None
