"""The generated reference pages: docs/facts.md (the patient facts, column by column) and
docs/rules/<cohort>.md (each cohort's rule from its declaration, with its spec tests' cases as
worked examples).

    python -m engine.docs            # rewrite the pages (from the repository root)
    (tests/test_docs.py fails when a page is out of date)

The worked examples are the spec tests' own cases: each case's patient is built with the same
``tests/builders.Population`` the test uses, and its rows are printed beside the answer the test
expects. They are read from the repository's ``tests/`` folder, so this is a developer's command:
an installed package without its tests has no examples to show.
"""
from __future__ import annotations

import datetime as dt
import importlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
TESTS = REPO / "tests"
COMMAND = "python -m engine.docs"


def facts_page() -> str:
    from engine.features.facts import FACTS
    lines = ["# Patient facts", "",
             f"Generated from `engine/features/facts.py` (`FACTS`) by `{COMMAND}`; do not edit.", "",
             "One row per patient as of the run date, built once per run and read by every cohort, the risk "
             "features, the gap profile and the inequalities worklist. Windows a rule chooses are applied by the "
             "rule over the row arrays, so one facts table serves every parameter value.", "",
             "| column | type | meaning | CLINICAL_RULES |", "|---|---|---|---|"]
    for f in FACTS:
        lines.append(f"| `{f.name}` | `{f.type}` | {f.meaning} | {f.section} |")
    return "\n".join(lines) + "\n"


def _age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _rows(pop, as_of: dt.date) -> list[str]:
    """One line for the patient, then one per row the case's builder wrote."""
    p = pop.rows["patients"][0]
    out = [f"patient: age {_age_on(p['birth_date'], as_of)} on {as_of.isoformat()}, {p['sex']}"
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


def _spec_of(name: str):
    """The cohort's main spec (keyed by its name) from tests/test_<name>_spec.py, or None."""
    if not (TESTS / f"test_{name}_spec.py").is_file():
        return None
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    importlib.import_module(f"test_{name}_spec")
    return importlib.import_module("spec").SPECS.get(name)


def _verdict(expected) -> str:
    if expected in (None, False):
        return "not listed"
    return "listed" if expected is True else f"listed: {expected}"


def worked_examples(name: str) -> list[str]:
    spec = _spec_of(name)
    if spec is None or not spec.cases:
        return []
    from builders import AS_OF, Population   # tests/builders.py, on sys.path since _spec_of
    lines = ["", "## Worked examples (the spec tests)", "",
             f"Each case is one patient built for the test; run date {AS_OF.isoformat()}.", ""]
    for pid, case in spec.cases.items():
        pop = Population()
        pop.patient(pid, **spec.attrs(pid))
        if case.build is not None:
            case.build(pop, pid)
        lines.append(f"- **{pid.replace('_', ' ')}** → {_verdict(case.expected)}")
        lines += [f"  - {row}" for row in _rows(pop, AS_OF)]
    return lines


def rule_page(name: str) -> str:
    from engine.cohorts import COHORTS
    from engine.config import load_facts_params
    cohort = COHORTS[name]
    params = cohort.params()
    shown = cohort.shown({**load_facts_params(), **params})
    lines = [f"# {cohort.title} (`{name}`)", "",
             f"Generated from `engine/cohorts/{name}.py`, `conf/cohorts/{name}.yaml` and "
             f"`tests/test_{name}_spec.py` by `{COMMAND}`; do not edit.", "",
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
    lines += worked_examples(name)
    return "\n".join(lines) + "\n"


def pages() -> dict[Path, str]:
    from engine.cohorts import COHORTS
    out = {DOCS / "facts.md": facts_page()}
    for name in COHORTS:
        out[DOCS / "rules" / f"{name}.md"] = rule_page(name)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog=COMMAND, description="Rewrite docs/facts.md and docs/rules/<cohort>.md "
                                     "from the code, the cohort YAML and the spec tests' cases.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each page that is out of date")
    args = parser.parse_args(argv)
    if not TESTS.is_dir():
        print(f"casefind docs: the worked examples come from the spec tests, and {TESTS} is not there "
              "(run this from a clone of the repository)", file=sys.stderr)
        return 2
    stale = []
    for path, text in pages().items():
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(REPO)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    for path in stale:
        print(f"{path} is out of date: run {COMMAND}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
