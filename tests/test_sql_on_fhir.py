"""The official SQL on FHIR v2 conformance suite (../shared/sql_on_fhir_tests), run through
engine.views. Every test of every file runs; the results are written to build/sql_on_fhir_report.json
(outside the source tree: a test run changes no tracked file) in the format of the specification's
implementation registry (file → tests → name, result.passed, and the reason where not passed), and the
count and that path are printed at the end of the pytest run. benchmarks/sql_on_fhir_report.json is
the copy published with the results."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from engine.views import ViewError, run_view

SUITE = Path(__file__).resolve().parents[2] / "shared" / "sql_on_fhir_tests"
REPORT = Path(__file__).resolve().parents[1] / "build" / "sql_on_fhir_report.json"
FILES = sorted(p.name for p in SUITE.glob("*.json") if p.name != "tests.schema.json") if SUITE.is_dir() else []

RESULTS: dict[str, dict[str, dict]] = {}


def _norm(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return ("n", round(float(v), 9)) if math.isfinite(float(v)) else ("n", str(v))
    if isinstance(v, (list, tuple)):
        return ("l", tuple(_norm(x) for x in v))
    return ("o", repr(v))


def _rows(rows: list[dict]) -> list:
    return sorted((tuple(sorted((k, _norm(v)) for k, v in r.items())) for r in rows), key=repr)


def run_case(spark, resources: list[dict], case: dict) -> tuple[bool, str]:
    """(passed, reason) for one test of the suite."""
    try:
        df = run_view(spark, case["view"], resources)
        got = [r.asDict(recursive=True) for r in df.collect()]
        columns = df.columns
    except ViewError as e:
        return ("expectError" in case), ("" if "expectError" in case else f"view refused: {e}")
    except Exception as e:   # noqa: BLE001 - a run-time error raised by the view (raise_error) is an answer
        text = str(e).splitlines()[0][:200]
        return ("expectError" in case), ("" if "expectError" in case else f"run failed: {text}")
    if "expectError" in case:
        return False, "ran without the expected error"
    want = case.get("expect", [])
    if "expectColumns" in case and columns != case["expectColumns"]:
        return False, f"columns {columns} != {case['expectColumns']}"
    if _rows(got) != _rows(want):
        return False, f"rows differ: got {got[:5]}, want {want[:5]}"
    return True, ""


@pytest.mark.skipif(not SUITE.is_dir(), reason=f"SQL on FHIR suite not found at {SUITE} (../shared/sql_on_fhir_tests)")
@pytest.mark.parametrize("name", FILES)
def test_conformance_file(spark, name):
    suite = json.loads((SUITE / name).read_text())
    results = {}
    for case in suite["tests"]:
        passed, reason = run_case(spark, suite.get("resources", []), case)
        results[case["title"]] = {"passed": passed, **({"reason": reason} if reason else {})}
    RESULTS[name] = results
    if len(RESULTS) == len(FILES):
        _write_report()
    failed = {t: r["reason"] for t, r in results.items() if not r["passed"]}
    assert not failed, failed


def _write_report() -> None:
    report = {name: {"tests": [{"name": t, "result": r} for t, r in RESULTS[name].items()]}
              for name in sorted(RESULTS)}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")


def conformance_summary() -> str | None:
    if not RESULTS:
        return None
    total = sum(len(v) for v in RESULTS.values())
    passed = sum(r["passed"] for v in RESULTS.values() for r in v.values())
    return (f"SQL on FHIR v2 conformance: {passed}/{total} tests passed ({len(RESULTS)} of {len(FILES)} files run)"
            + (f"; report: {REPORT}" if len(RESULTS) == len(FILES) else ""))
