""".ci/check_pg_ran.py: the PostgreSQL pass fails unless every PostgreSQL-only test is in
its JUnit report, passed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_pg_ran", ROOT / ".ci" / "check_pg_ran.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

EXPECTED = [
    "tests/integration/test_transactions.py::test_a",
    "tests/api/test_races.py::Races::test_b[1]",
    "tests/api/test_races.py::test_c",
]


def _report(tmp_path: Path, cases: str) -> Path:
    path = tmp_path / "report.xml"
    path.write_text(f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{cases}'
                    "</testsuite></testsuites>")
    return path


def test_every_marked_test_passed_is_no_problem(tmp_path):
    report = _report(tmp_path, (
        '<testcase classname="tests.integration.test_transactions" name="test_a"/>'
        '<testcase classname="tests.api.test_races.Races" name="test_b[1]"/>'
        '<testcase classname="tests.api.test_races" name="test_c"/>'
        '<testcase classname="tests.unit.test_other" name="test_d">'
        '<skipped message="unrelated"/></testcase>'))
    assert check.problems(EXPECTED, check.outcomes(report)) == []


def test_a_skipped_failed_or_missing_marked_test_is_named(tmp_path):
    report = _report(tmp_path, (
        '<testcase classname="tests.integration.test_transactions" name="test_a">'
        '<skipped type="pytest.skip" message="PostgreSQL only"/></testcase>'
        '<testcase classname="tests.api.test_races.Races" name="test_b[1]">'
        '<failure message="assert 1 == 2"/></testcase>'))
    assert check.problems(EXPECTED, check.outcomes(report)) == [
        "tests/integration/test_transactions.py::test_a: skipped",
        "tests/api/test_races.py::Races::test_b[1]: failure",
        "tests/api/test_races.py::test_c: not run",
    ]


def test_no_marked_test_at_all_is_a_problem(tmp_path):
    assert check.problems([], check.outcomes(_report(tmp_path, ""))) != []
