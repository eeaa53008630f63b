"""Generates docs/facts.md (the patient facts, column by column) and docs/rules/<cohort>.md (each
cohort's rule from its declaration, with its spec-test cases as worked examples).

    python tests/render_docs.py          # rewrite the pages
    (tests/test_docs.py fails when a page is out of date)

The worked examples are the spec tests' own cases: each case's patient is built with the same
``builders.Population`` the test uses, and its rows are printed beside the band the test expects.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DOCS = REPO / "docs"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def facts_page() -> str:
    from engine.features.facts import FACTS
    lines = ["# Patient facts", "",
             "Generated from `engine/features/facts.py` (`FACTS`) by `python tests/render_docs.py`; do not edit.", "",
             "One row per patient as of the run date, built once per run and read by every cohort, the risk "
             "features, the gap profile and the inequalities worklist. Windows a rule chooses are applied by the "
             "rule over the row arrays, so one facts table serves every parameter value.", "",
             "| column | type | meaning | CLINICAL_RULES |", "|---|---|---|---|"]
    for f in FACTS:
        lines.append(f"| `{f.name}` | `{f.type}` | {f.meaning} | {f.section} |")
    return "\n".join(lines) + "\n"


def _case_parts(value) -> tuple[object, dict, object]:
    """(expected, patient attributes, builder) from a spec module's CASES entry, whatever its shape."""
    items = value if isinstance(value, tuple) else (value,)
    expected = items[0]
    attrs = next((v for v in items[1:] if isinstance(v, dict)), {})
    build = next((v for v in items[1:] if callable(v)), None)
    return expected, attrs, build


def _rows(attrs: dict, build, pid: str) -> list[str]:
    from builders import Population
    pop = Population()
    pop.patient(pid, **attrs)
    if build is not None:
        build(pop, pid)
    p = pop.rows["patients"][0]
    out = [f"patient: age {2026 - p['birth_date'].year} on 2026-03-31, {p['sex']}"
           + (", address flagged as a care home" if p.get("address_care_home") else "")
           + (f", died {p['death_date']}" if p.get("death_date") else "")]
    for table, fields in (("events", ("date", "code", "value", "status")), ("medications", ("date", "code", "status")),
                          ("referrals", ("date", "code", "status", "outcome_date")),
                          ("encounters", ("start", "class", "code"))):
        for r in pop.rows[table]:
            what = table[:-1]
            if r.get("kind") == "authorisation":   # a repeat authorisation: the days it covers (§0)
                what, fields_ = "repeat authorisation", ("date", "end_date", "code", "status", "supply_days")
            else:
                fields_ = fields
            shown = ", ".join(f"{k} {r[k]}" for k in fields_ if r.get(k) is not None)
            out.append(f"{what}: {shown}")
    return out


def rule_page(name: str) -> str:
    from engine.cohorts import COHORTS
    from engine.config import load_facts_params
    cohort = COHORTS[name]
    params = cohort.params()
    shown = cohort.shown({**load_facts_params(), **params})
    lines = [f"# {cohort.title} (`{name}`)", "",
             f"Generated from `engine/cohorts/{name}.py`, `conf/cohorts/{name}.yaml` and "
             f"`tests/test_{name}_spec.py` by `python tests/render_docs.py`; do not edit.", "",
             f"CLINICAL_RULES {cohort.section}. {cohort.explanation.format(**shown)}", "",
             "## Criteria, in order", ""]
    lines += [f"{i}. `{c.name}`: {label}" for i, (c, label) in enumerate(zip(cohort.criteria, cohort.rule_labels(shown)), 1)]
    lines += ["", "## Bands (the first that holds)", "", "| order | band |", "|---|---|"]
    lines += [f"| {o} | {b} |" for o, b in zip(cohort.band_orders(), cohort.band_labels(shown))]
    lines += ["", "Ranked within a PCN by band order, then "
              + ", ".join(f"`{c}` ({'highest' if desc else 'lowest'} first)" for c, desc in cohort.rank)
              + ", then patient id.", "", "## Parameters", "", "| parameter | value | may hold |", "|---|---|---|"]
    for key in sorted(cohort.parameters):
        spec = cohort.parameters[key]
        bounds = "" if spec.low is None and spec.high is None else f" {spec.low:g}–{spec.high:g}"
        lines.append(f"| `{key}` | {shown[key]} | {spec.kind}{bounds} |")
    try:
        module = importlib.import_module(f"test_{name}_spec")
    except ImportError:
        module = None
    cases = getattr(module, "CASES", {}) if module else {}
    if cases:
        lines += ["", "## Worked examples (the spec tests)", "",
                  "Each case is one patient built for the test; run date 2026-03-31.", ""]
        for pid, value in cases.items():
            expected, attrs, build = _case_parts(value)
            attrs = {**getattr(module, "PATIENT_ATTRS", {}).get(pid, {}), **attrs}
            verdict = "not listed" if expected in (None, False) else ("listed" if expected is True else f"listed: {expected}")
            lines.append(f"- **{pid.replace('_', ' ')}** → {verdict}")
            lines += [f"  - {row}" for row in _rows(attrs, build, pid)]
    return "\n".join(lines) + "\n"


def pages() -> dict[Path, str]:
    from engine.cohorts import COHORTS
    out = {DOCS / "facts.md": facts_page()}
    for name in COHORTS:
        out[DOCS / "rules" / f"{name}.md"] = rule_page(name)
    return out


def main() -> None:
    for path, text in pages().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
