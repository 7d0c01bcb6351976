"""The scan script's KEYS and ARGV are named once (ScanKeys, ScanArgs) for Python and Lua.

The script reads each by the name its prologue gives it, never by position, and uses
every one; so a key or argument added, dropped or moved on one side shows here.
"""

from __future__ import annotations

import re

from backend.services.scans import SCAN_SCRIPT, ScanArgs, ScanKeys

DECLARED = re.compile(r"^local (\w+) = (KEYS|ARGV)\[(\d+)\]$")


def _prologue_and_body() -> tuple[list[tuple[str, str, int]], str]:
    lines = SCAN_SCRIPT.splitlines()
    declared = []
    while lines and (found := DECLARED.match(lines[0])):
        declared.append((found[2], found[1], int(found[3])))
        lines.pop(0)
    return declared, "\n".join(lines)


def test_the_body_reads_them_by_name_only_and_uses_every_one():
    _, body = _prologue_and_body()
    assert "KEYS[" not in body and "ARGV[" not in body
    unused = [name for name in (*ScanKeys._fields, *ScanArgs._fields)
              if not re.search(rf"\b{name}\b", body)]
    assert unused == []
