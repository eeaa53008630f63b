"""The spec harness every cohort's tests share (ehrQL's spec tests are the model).

A spec is a tiny hand-built population: each case is one patient built by a function, with the band
the rule must give it (None: not listed). ``Spec.listed`` evaluates the cohort once per module
through the same renderer the pipeline uses; ``docs/rules/<cohort>.md`` shows the cases as worked
examples (``python -m tests.render_docs``).
"""
from __future__ import annotations

import datetime as dt

from builders import AS_OF, Population
from engine.cohorts.render import evaluate as render
from engine.features.facts import patient_facts


def evaluate(cohort, record, as_of: dt.date = AS_OF, overrides: dict | None = None, inputs: dict | None = None):
    """The cohort's evaluated population (every column the renderer returns) on ``record``, over
    the cached facts table exactly as the pipeline reads it (the cache also keeps Spark's optimiser
    from inlining the facts' derived columns into every filter)."""
    return render(cohort, patient_facts(record, as_of), as_of, cohort.params(overrides), inputs)


class Spec:
    """Cases for one cohort: ``@spec.case(expected, **patient)`` registers a builder."""

    def __init__(self, cohort):
        self.cohort = cohort
        self.cases: dict[str, tuple[object, object, dict]] = {}

    def case(self, expected, **patient):
        def register(build):
            self.cases[build.__name__] = (expected, build, patient)
            return build
        return register

    def population(self, names=None) -> Population:
        pop = Population()
        for pid, (_, build, patient) in self.cases.items():
            if names is None or pid in names:
                pop.patient(pid, **patient)
                build(pop, pid)
        return pop

    def listed(self, spark, names=None, overrides=None, as_of: dt.date = AS_OF) -> dict[str, dict]:
        rows = evaluate(self.cohort, self.population(names).record(spark), as_of, overrides).where("member").collect()
        return {r["patient_id"]: r.asDict() for r in rows}

    def expected(self) -> dict[str, object]:
        return {pid: exp for pid, (exp, _, _) in self.cases.items()}


SHARED = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared"
CLINICAL_RULES = SHARED / "CLINICAL_RULES.md"


def clinical_values(source, expected: dict[str, tuple[object, str]]) -> None:
    """Each parameter holds its clinical value, and CLINICAL_RULES states it (``expected``: key →
    (value, a quote from CLINICAL_RULES.md)). ``source``: a cohort (its YAML) or the facts' params."""
    import re

    import pytest
    params, where = (source.params(), f"conf/cohorts/{source.name}.yaml") if hasattr(source, "params") \
        else (source, "conf/facts.yaml")
    wrong = {k: (params.get(k), v) for k, (v, _) in expected.items() if params.get(k) != v}
    assert not wrong, f"{where} differs from the clinical rule: {wrong}"
    if not CLINICAL_RULES.is_file():
        pytest.skip(f"{CLINICAL_RULES} not found: the values were checked, their quotes were not")
    text = re.sub(r"\s+", " ", CLINICAL_RULES.read_text(encoding="utf-8"))
    missing = [q for _, q in expected.values() if re.sub(r"\s+", " ", q) not in text]
    assert not missing, f"CLINICAL_RULES.md no longer says: {missing}"
