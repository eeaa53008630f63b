"""The spec harness every rule's tests share (ehrQL's spec tests are the model).

A spec is a tiny hand-built population: each case is one patient built by a function, with the
answer the rule must give it (a band, None for "not listed", or whatever the test compares).
Every ``Spec`` any test module declares lives in ONE session-scoped record (``spec_record`` in
conftest.py), so the patient facts are built and cached once for the whole suite; a cohort
parameter override reuses them, because facts do not depend on cohort parameters.

In that record a spec's patient ids are ``<key>:<pid>``; a spec reads the shared facts filtered to
its own patients, so its ranks and attrition per PCN count no one else's, and everything it returns
carries the test's own ids again. ``docs/rules/<cohort>.md`` shows the cohort's main spec
(the one keyed by the cohort's name) as worked examples (``python -m engine.docs``).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Callable

from builders import AS_OF, Population

SPECS: dict[str, "Spec"] = {}
SEP = ":"


@dataclass(frozen=True)
class Case:
    expected: object
    build: Callable | None
    patient: dict            # Population.patient() attributes, over the spec's defaults


class Spec:
    """Cases for one rule. ``@SPEC.case(expected, **patient)`` registers a builder by its function
    name; ``SPEC.add(pid, expected, build, **patient)`` registers one under any name."""

    def __init__(self, key: str, cohort=None, **defaults):
        if key in SPECS:
            raise ValueError(f"two specs are keyed {key!r}")
        if SEP in key:
            raise ValueError(f"a spec key may not hold {SEP!r}: {key!r}")
        self.key, self.cohort, self.defaults = key, cohort, defaults
        self.cases: dict[str, Case] = {}
        SPECS[key] = self

    # --- declaring --------------------------------------------------------------------------------
    def case(self, expected, **patient):
        def register(build):
            self.add(build.__name__, expected, build, **patient)
            return build
        return register

    def add(self, pid: str, expected=None, build: Callable | None = None, **patient) -> None:
        if pid in self.cases:
            raise ValueError(f"spec {self.key}: two cases named {pid!r}")
        self.cases[pid] = Case(expected, build, patient)

    def expected(self) -> dict[str, object]:
        return {pid: c.expected for pid, c in self.cases.items()}

    def attrs(self, pid: str) -> dict:
        return {**self.defaults, **self.cases[pid].patient}

    # --- the shared record ------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        return self.key + SEP

    def populate(self, pop: Population) -> None:
        """Add every case's patient to ``pop`` under this spec's ids."""
        for pid in self.cases:
            pop.patient(self.prefix + pid, family_name=pid.upper(), **self.attrs(pid))
            if self.cases[pid].build is not None:
                self.cases[pid].build(pop, self.prefix + pid)

    def population(self, *pids: str) -> Population:
        """This spec alone (or the cases ``pids``) as a population of its own, ids as the test wrote them."""
        pop = Population()
        for pid in pids or self.cases:
            pop.patient(pid, **self.attrs(pid))
            if self.cases[pid].build is not None:
                self.cases[pid].build(pop, pid)
        return pop

    def _own(self, df):
        from pyspark.sql import functions as F
        return df.where(F.col("patient_id").startswith(self.prefix))

    def test_id(self, pid):
        """The test's own id for a patient id of the shared record."""
        return pid[len(self.prefix):] if isinstance(pid, str) and pid.startswith(self.prefix) else pid

    _theirs = test_id

    def _row(self, row: dict) -> dict:
        return {**row, "patient_id": self._theirs(row["patient_id"])}

    def _inputs(self, inputs: dict | None) -> dict | None:
        """Inputs keyed by the test's patient ids (e.g. risk scores), keyed by the record's."""
        if not inputs:
            return inputs
        from pyspark.sql import functions as F
        return {k: df.withColumn("patient_id", F.concat(F.lit(self.prefix), "patient_id"))
                for k, df in inputs.items()}

    def view(self, record, as_of: dt.date = AS_OF):
        """The shared record seen as if it held this spec's patients alone: its facts are the cached
        shared facts, filtered (no second build), so ranks and attrition per PCN count no one else."""
        from engine.features.facts import patient_facts
        return dataclasses.replace(record, patients=self._own(record.patients),
                                   facts={as_of: self._own(patient_facts(record, as_of))})

    def facts(self, record, as_of: dt.date = AS_OF):
        """This spec's rows of the shared facts table (ids still the record's: see ``fact_rows``)."""
        from engine.features.facts import patient_facts
        return self._own(patient_facts(record, as_of))

    def fact_rows(self, record, *columns: str, as_of: dt.date = AS_OF) -> dict[str, dict]:
        facts = self.facts(record, as_of)
        rows = (facts.select("patient_id", *columns) if columns else facts).collect()
        return {self._theirs(r["patient_id"]): self._row(r.asDict()) for r in rows}

    def evaluated(self, record, overrides: dict | None = None, inputs: dict | None = None,
                  as_of: dt.date = AS_OF, cohort=None) -> dict[str, dict]:
        """pid → every column the renderer returns, for each eligible patient of this spec."""
        from engine.cohorts.render import evaluate as render
        cohort = cohort or self.cohort
        rows = render(cohort, self.facts(record, as_of), as_of, cohort.params(overrides),
                      self._inputs(inputs)).collect()
        return {self._theirs(r["patient_id"]): self._row(r.asDict()) for r in rows}

    def listed(self, record, overrides: dict | None = None, inputs: dict | None = None,
               as_of: dt.date = AS_OF, cohort=None) -> dict[str, dict]:
        return {pid: r for pid, r in self.evaluated(record, overrides, inputs, as_of, cohort).items() if r["member"]}

    def worklist(self, record, overrides: dict | None = None, inputs: dict | None = None,
                 as_of: dt.date = AS_OF, cohort=None):
        """The ranked worklist and attrition exactly as the pipeline makes them from this spec's
        patients (``engine.worklists.build.CohortResult``, ids as the test wrote them)."""
        from engine.worklists.build import evaluate as worklist
        result = worklist(cohort or self.cohort, self.view(record, as_of), as_of, overrides, self._inputs(inputs))
        result.worklist["patient_id"] = result.worklist["patient_id"].map(self._theirs)
        return result


def spec_population(specs=None) -> Population:
    """Every declared spec's patients in one population (the shared spec record's)."""
    pop = Population()
    for spec in (specs or SPECS.values()):
        spec.populate(pop)
    return pop


def evaluate(cohort, record, as_of: dt.date = AS_OF, overrides: dict | None = None, inputs: dict | None = None):
    """The cohort's evaluated population (every column the renderer returns) on a record of the test's
    own (one whose configuration differs from the shared one's), over its cached facts table exactly
    as the pipeline reads it."""
    from engine.cohorts.render import evaluate as render
    from engine.features.facts import patient_facts
    return render(cohort, patient_facts(record, as_of), as_of, cohort.params(overrides), inputs)


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
