"""Fail the PostgreSQL pass of .ci/run unless every PostgreSQL-only test ran and passed.

    .venv/bin/python .ci/check_pg_ran.py REPORT.xml

Tests marked ``@pytest.mark.postgresql`` skip themselves on SQLite (tests/conftest.py).
A PostgreSQL pass that ran on SQLite after all, or options that deselected those tests,
would otherwise end green having shown nothing of what only PostgreSQL does. This
collects the marked tests (``pytest --collect-only -m postgresql``, with no options
from the environment) and checks that each one is in the pass's report
(``pytest --junitxml=REPORT.xml``) and passed there. Exit status 1 names those that
did not; no marked test at all is a failure too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_PASSED = ("skipped", "failure", "error")


def marked_tests() -> list[str]:
    """Node ids of the tests marked ``postgresql``, as pytest collects them."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", "postgresql"],
        cwd=ROOT, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"collecting the PostgreSQL-only tests failed:\n{run.stdout}{run.stderr}")
    return [line for line in run.stdout.splitlines() if "::" in line]


def junit_name(node_id: str) -> tuple[str, str]:
    """``tests/a/test_b.py::Class::test_c[x]`` -> (``tests.a.test_b.Class``, ``test_c[x]``),
    the classname and name a JUnit report gives that test."""
    path, *scopes, name = node_id.split("::")
    return ".".join([path.removesuffix(".py").replace("/", "."), *scopes]), name


def outcomes(report: Path) -> dict[tuple[str, str], str]:
    """Each test case of a JUnit report: (classname, name) -> passed / skipped / ..."""
    found = {}
    # The report is the one pytest just wrote on this machine, not outside input.
    for case in ET.parse(report).iter("testcase"):  # noqa: S314
        verdicts = [child.tag for child in case if child.tag in NOT_PASSED]
        found[case.get("classname", ""), case.get("name", "")] = (
            verdicts[0] if verdicts else "passed")
    return found


def problems(expected: list[str], seen: dict[tuple[str, str], str]) -> list[str]:
    """What is wrong: every expected test must be in the report, passed."""
    if not expected:
        return ["no test is marked postgresql: nothing shows the PostgreSQL pass ran them"]
    wrong = []
    for node_id in expected:
        outcome = seen.get(junit_name(node_id), "not run")
        if outcome != "passed":
            wrong.append(f"{node_id}: {outcome}")
    return wrong


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    expected = marked_tests()
    wrong = problems(expected, outcomes(Path(argv[0])))
    if wrong:
        print(f"PostgreSQL-only tests that did not pass on PostgreSQL ({len(wrong)} of "
              f"{len(expected)}):", *wrong, sep="\n  ")
        return 1
    print(f"PostgreSQL-only tests: all {len(expected)} ran and passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
