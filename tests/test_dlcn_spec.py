"""Spec tests for the DLCN score (the ``dlcn*`` facts of engine.features.facts, CLINICAL_RULES §5):
one tiny patient per rule. Its thresholds are facts parameters (conf/facts.yaml).

conf/codelists/tendon_xanthoma.csv ships empty (no public code was confirmed), so the xanthoma
cases run against a copy of the codelists with one stand-in code added, which is exactly how a user
drops a published list in.
"""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from builders import AS_OF, CHD, PAD, STROKE, Population
from engine.codes import SNOMED
from engine.config import conf_dir, load_facts_params
from engine.features.facts import build as build_facts
from engine.record import Record
from spec import Spec, clinical_values

LDL = (SNOMED, "1022191000000100")
LDL_LOINC = ("http://loinc.org", "18262-6")
XANTHOMA = (SNOMED, "TEST-TENDON-XANTHOMA")     # stand-in, present only in the test copy of the list
RECENT = dt.date(2025, 6, 1)


def codelists_with_xanthoma(tmp_path):
    """A copy of conf/codelists with one tendon-xanthoma row, for records that need the item scored."""
    folder = tmp_path / "codelists"
    shutil.copytree(conf_dir() / "codelists", folder)
    (folder / "tendon_xanthoma.csv").write_text(
        "# test copy: one stand-in code\ncode,term,system\nTEST-TENDON-XANTHOMA,Tendon xanthoma (test),snomedct\n",
        encoding="utf-8")
    return folder


def conf_with_facts(tmp_path, **changes) -> Path:
    """A copy of conf/ whose facts.yaml has ``changes``: point CASEFIND_CONF at it."""
    folder = tmp_path / "conf"
    shutil.copytree(conf_dir(), folder)
    facts = yaml.safe_load((folder / "facts.yaml").read_text(encoding="utf-8"))
    unknown = set(changes) - set(facts)
    assert not unknown, f"not facts parameters: {unknown}"
    (folder / "facts.yaml").write_text(yaml.safe_dump({**facts, **changes}), encoding="utf-8")
    return folder


def with_xanthoma_list(spark, tmp_path, spec: Spec, pids) -> Record:
    """Those cases of ``spec`` on a record of their own that reads the test copy of the codelists: the
    shared spec record reads the shipped tendon-xanthoma list, which scores no one."""
    record = spec.population(*pids).record(spark)
    record.codelist_dir = codelists_with_xanthoma(tmp_path)
    return record


def born(years_before_as_of: int) -> dt.date:
    return dt.date(AS_OF.year - years_before_as_of, 1, 1)


def birthday(pid_birth: dt.date, age: int, days: int = 0) -> dt.date:
    return dt.date(pid_birth.year + age, pid_birth.month, pid_birth.day) + dt.timedelta(days=days)


# patient id → expected (score, ldl points, history points, exam points), with the record that earns it
SPEC = Spec("dlcn")


def case(score, parts, sex="female", age=60):
    """``build(p, pid, birth)`` as a case under its name, expecting ``(score, *parts)``."""
    def register(build):
        birth = born(age)
        SPEC.add(build.__name__, (score, *parts), lambda p, pid: build(p, pid, birth), sex=sex, age=age)
        return build
    return register


def ldl(value):
    def build(p, pid, b): p.event(pid, LDL, RECENT, value)
    build.__name__ = f"ldl_{str(value).replace('.', '_')}"
    return build


# --- LDL points: every band edge, and the published ranges' gaps closed downward ----------------
for value, points in ((8.51, 8), (8.5, 5), (6.5, 5), (6.49, 3), (6.45, 3), (5.0, 3), (4.99, 1), (4.95, 1),
                      (4.0, 1), (3.99, 0)):
    case(points, (points, 0, 0))(ldl(value))


@case(3, (3, 0, 0))
def highest_ldl_not_latest(p, pid, b):
    p.event(pid, LDL, dt.date(2016, 3, 1), 5.6)
    p.event(pid, LDL, RECENT, 3.1)


@case(3, (3, 0, 0))
def equal_highest_ldl_twice(p, pid, b):
    p.event(pid, LDL, dt.date(2019, 3, 1), 5.6)
    p.event(pid, LDL, dt.date(2021, 3, 1), 5.6)
    p.event(pid, LDL, dt.date(2018, 3, 1), 5.6)
    p.event(pid, LDL, RECENT, 3.1)


@case(5, (5, 0, 0))
def loinc_coded_ldl(p, pid, b): p.event(pid, LDL_LOINC, RECENT, 7.0)
@case(0, (0, 0, 0))
def ldl_after_as_of_ignored(p, pid, b): p.event(pid, LDL, AS_OF + dt.timedelta(days=1), 9.0)
@case(0, (0, 0, 0))
def ldl_entered_in_error_ignored(p, pid, b): p.event(pid, LDL, RECENT, 9.0, status="entered-in-error")
@case(0, (0, 0, 0))
def no_ldl(p, pid, b): pass


# --- own premature CHD: men < 55, women < 60 at the first code -----------------------------------
@case(2, (0, 2, 0), sex="male")
def man_chd_day_before_55th_birthday(p, pid, b): p.diagnosis(pid, CHD, birthday(b, 55, -1))
@case(0, (0, 0, 0), sex="male")
def man_chd_on_55th_birthday(p, pid, b): p.diagnosis(pid, CHD, birthday(b, 55))
@case(2, (0, 2, 0), sex="female")
def woman_chd_at_59(p, pid, b): p.diagnosis(pid, CHD, birthday(b, 59, 100))
@case(0, (0, 0, 0), sex="female")
def woman_chd_on_60th_birthday(p, pid, b): p.diagnosis(pid, CHD, birthday(b, 60))
@case(0, (0, 0, 0), sex="unknown")
def unknown_sex_chd_at_57_held_to_mens_age(p, pid, b): p.diagnosis(pid, CHD, birthday(b, 57))


@case(2, (0, 2, 0), sex="male")
def first_chd_code_decides(p, pid, b):
    p.diagnosis(pid, CHD, birthday(b, 50))
    p.diagnosis(pid, CHD, birthday(b, 58))


@case(0, (0, 0, 0), sex="male")
def refuted_early_chd_ignored(p, pid, b):
    p.diagnosis(pid, CHD, birthday(b, 45), status="refuted")
    p.diagnosis(pid, CHD, birthday(b, 58))


@case(2, (0, 2, 0), sex="male")
def chd_since_resolved_still_counts(p, pid, b):
    p.diagnosis(pid, CHD, birthday(b, 50))
    p.diagnosis(pid, CHD, birthday(b, 51), status="resolved")


# --- premature cerebral / peripheral vascular disease; one score per group ----------------------
@case(1, (0, 1, 0), sex="male")
def man_stroke_at_54(p, pid, b): p.diagnosis(pid, STROKE, birthday(b, 54))
@case(1, (0, 1, 0), sex="female")
def woman_pad_at_59(p, pid, b): p.diagnosis(pid, PAD, birthday(b, 59))
@case(0, (0, 0, 0), sex="female")
def woman_pad_at_60(p, pid, b): p.diagnosis(pid, PAD, birthday(b, 60))


@case(1, (0, 1, 0), sex="male")
def earliest_of_stroke_and_pad_decides(p, pid, b):
    p.diagnosis(pid, STROKE, birthday(b, 58))
    p.diagnosis(pid, PAD, birthday(b, 52))


@case(0, (0, 0, 0), sex="male")
def late_chd_and_late_stroke_score_nothing(p, pid, b):
    p.diagnosis(pid, CHD, birthday(b, 56))
    p.diagnosis(pid, STROKE, birthday(b, 57))


@case(1, (0, 1, 0), sex="male")
def late_chd_with_premature_stroke_scores_1(p, pid, b):
    p.diagnosis(pid, CHD, birthday(b, 56))
    p.diagnosis(pid, STROKE, birthday(b, 50))


@case(2, (0, 2, 0), sex="male")
def premature_chd_and_stroke_score_the_group_once(p, pid, b):
    p.diagnosis(pid, CHD, birthday(b, 50))
    p.diagnosis(pid, STROKE, birthday(b, 52))


@case(7, (5, 2, 0), sex="male")
def ldl_and_premature_chd_add_up(p, pid, b):
    p.event(pid, LDL, RECENT, 6.6)
    p.diagnosis(pid, CHD, birthday(b, 48))


# --- tendon xanthoma (stand-in code in the test copy of the list) --------------------------------
@case(9, (3, 0, 6))
def ldl_and_tendon_xanthoma(p, pid, b):
    p.event(pid, LDL, RECENT, 5.2)
    p.diagnosis(pid, XANTHOMA, dt.date(2020, 2, 1))


@case(0, (0, 0, 0))
def tendon_xanthoma_refuted(p, pid, b): p.diagnosis(pid, XANTHOMA, dt.date(2020, 2, 1), status="refuted")


XANTHOMA_CASES = ("ldl_and_tendon_xanthoma", "tendon_xanthoma_refuted")     # scored against the test copy


def facts_rows(record) -> dict[str, dict]:
    """Built afresh, not cached: a test that changes conf/facts.yaml reads the same record again."""
    return {r["patient_id"]: r.asDict() for r in build_facts(record, AS_OF).collect()}


@pytest.fixture(scope="module")
def scored(spark, spec_record, tmp_path_factory):
    rows = SPEC.fact_rows(spec_record)
    rows.update(facts_rows(with_xanthoma_list(spark, tmp_path_factory.mktemp("dlcn"), SPEC, XANTHOMA_CASES)))
    return rows


@pytest.mark.parametrize("pid", list(SPEC.cases))
def test_score(scored, pid):
    row = scored[pid]
    expected = SPEC.cases[pid].expected
    got = (row["dlcn"], row["dlcn_ldl_points"], row["dlcn_history_points"], row["dlcn_exam_points"])
    assert got == expected, f"{pid}: expected {expected}, got {got}"


def test_components_name_each_scored_item(scored):
    text = scored["ldl_and_premature_chd_add_up"]["dlcn_components"]
    assert text.startswith("LDL-C 6.6: 5, premature CHD (first code ") and text.endswith(", age 48): 2")
    assert scored["no_ldl"]["dlcn_components"] == "no LDL-C recorded: 0"
    assert "tendon xanthoma (coded 2020-02-01): 6" in scored["ldl_and_tendon_xanthoma"]["dlcn_components"]
    vascular = scored["man_stroke_at_54"]["dlcn_components"]
    assert "premature cerebral/peripheral vascular disease (first code" in vascular and vascular.endswith("age 54): 1")
    # two decimals where the value has them, and no trailing zeros
    assert scored["ldl_4_95"]["dlcn_components"] == "LDL-C 4.95: 1"
    assert scored["ldl_5_0"]["dlcn_components"] == "LDL-C 5: 3"


def test_highest_ldl_and_its_date(scored):
    row = scored["highest_ldl_not_latest"]
    assert (row["max_ldl"], row["max_ldl_date"]) == (5.6, dt.date(2016, 3, 1))
    row = scored["equal_highest_ldl_twice"]      # a tie on the highest value: its latest date
    assert (row["max_ldl"], row["max_ldl_date"]) == (5.6, dt.date(2021, 3, 1))


def test_first_event_and_age(scored):
    row = scored["first_chd_code_decides"]
    assert (row["first_chd_date"], row["first_chd_age"]) == (birthday(born(60), 50), 50)
    row = scored["earliest_of_stroke_and_pad_decides"]
    assert (row["first_vascular_date"], row["first_vascular_age"]) == (birthday(born(60), 52), 52)


# the shared spec record reads the shipped codelists, whose tendon-xanthoma list is empty
SHIPPED_LIST = Spec("dlcn.shipped_xanthoma_list", age=60)
SHIPPED_LIST.add("x", build=lambda p, pid: p.diagnosis(pid, XANTHOMA, dt.date(2020, 2, 1)))


def test_shipped_xanthoma_list_scores_nothing(spec_record):
    row = SHIPPED_LIST.fact_rows(spec_record, "dlcn_exam_points", "xanthoma_date")["x"]
    assert (row["dlcn_exam_points"], row["xanthoma_date"]) == (0, None)


def test_thresholds_are_facts_parameters(spark, tmp_path, monkeypatch):
    pop = Population()
    pop.patient("a", sex="male", birth_date=born(60))
    pop.event("a", LDL, RECENT, 6.2)
    pop.diagnosis("a", CHD, birthday(born(60), 56))
    pop.patient("w", sex="female", birth_date=born(70))
    pop.event("w", LDL, RECENT, 8.6)
    pop.diagnosis("w", PAD, birthday(born(70), 61))
    record = pop.record(spark)
    assert {k: (r["dlcn"], r["dlcn_ldl_points"], r["dlcn_history_points"]) for k, r in facts_rows(record).items()} \
        == {"a": (3, 3, 0), "w": (8, 8, 0)}
    monkeypatch.setenv("CASEFIND_CONF", str(conf_with_facts(
        tmp_path, dlcn_ldl_5_points_from=6.0, dlcn_premature_age_men=57, dlcn_ldl_8_points_above=8.6,
        dlcn_premature_age_women=62)))
    got = {k: (r["dlcn"], r["dlcn_ldl_points"], r["dlcn_history_points"]) for k, r in facts_rows(record).items()}
    assert got == {"a": (7, 5, 2), "w": (6, 5, 1)}


# yaml key → (value, a quote from CLINICAL_RULES.md stating it)
CLINICAL_VALUES = {
    "dlcn_ldl_8_points_above": (8.5, "> 8.5 → 8"),
    "dlcn_ldl_5_points_from": (6.5, "6.5–8.5 → 5"),
    "dlcn_ldl_3_points_from": (5.0, "5.0–6.4 → 3"),
    "dlcn_ldl_1_point_from": (4.0, "4.0–4.9 → 1"),
    "dlcn_premature_age_men": (55, "own premature CHD, men < 55"),
    "dlcn_premature_age_women": (60, "women < 60 → 2"),
}


def test_clinical_values_match_clinical_rules():
    clinical_values(load_facts_params(), CLINICAL_VALUES)
