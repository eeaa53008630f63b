"""Spec tests for the DLCN score (engine.features.dlcn, CLINICAL_RULES §5): one tiny patient per rule.

conf/codelists/tendon_xanthoma.csv ships empty (no public code was confirmed), so the xanthoma
cases run against a copy of the codelists with one stand-in code added, which is exactly how a user
drops a published list in.
"""
from __future__ import annotations

import datetime as dt
import shutil

import pytest

from builders import AS_OF, CHD, PAD, STROKE, Population
from engine.codes import SNOMED
from engine.config import conf_dir
from engine.features.dlcn import DEFAULTS, LOWER_BOUND_NOTE, dlcn

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


def born(years_before_as_of: int) -> dt.date:
    return dt.date(AS_OF.year - years_before_as_of, 1, 1)


def birthday(pid_birth: dt.date, age: int, days: int = 0) -> dt.date:
    return dt.date(pid_birth.year + age, pid_birth.month, pid_birth.day) + dt.timedelta(days=days)


# patient id → (expected (score, ldl points, history points, exam points), sex, birth, build)
CASES: dict = {}


def case(score, parts, sex="female", age=60):
    def register(build):
        CASES[build.__name__] = ((score, *parts), sex, born(age), build)
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


@pytest.fixture(scope="module")
def scored(spark, tmp_path_factory):
    pop = Population()
    for pid, (_, sex, birth, build) in CASES.items():
        pop.patient(pid, sex=sex, birth_date=birth)
        build(pop, pid, birth)
    record = pop.record(spark)
    record.codelist_dir = codelists_with_xanthoma(tmp_path_factory.mktemp("dlcn"))
    return {r["patient_id"]: r.asDict() for r in dlcn(record, AS_OF, DEFAULTS).collect()}


@pytest.mark.parametrize("pid", list(CASES))
def test_score(scored, pid):
    row = scored[pid]
    got = (row["dlcn"], row["dlcn_ldl_points"], row["dlcn_history_points"], row["dlcn_exam_points"])
    assert got == CASES[pid][0], f"{pid}: expected {CASES[pid][0]}, got {got}"


def test_components_name_each_scored_item(scored):
    text = scored["ldl_and_premature_chd_add_up"]["dlcn_components"]
    assert text.startswith("LDL-C 6.6 → 5, premature CHD (first code ") and text.endswith(", age 48) → 2")
    assert scored["no_ldl"]["dlcn_components"] == "no LDL-C recorded → 0"
    assert "tendon xanthoma (coded 2020-02-01) → 6" in scored["ldl_and_tendon_xanthoma"]["dlcn_components"]
    vascular = scored["man_stroke_at_54"]["dlcn_components"]
    assert "premature cerebral/peripheral vascular disease (first code" in vascular and vascular.endswith("age 54) → 1")


def test_highest_ldl_and_its_date(scored):
    row = scored["highest_ldl_not_latest"]
    assert (row["max_ldl"], row["max_ldl_date"]) == (5.6, dt.date(2016, 3, 1))


def test_first_event_and_age(scored):
    row = scored["first_chd_code_decides"]
    assert (row["first_chd_date"], row["first_chd_age"]) == (birthday(born(60), 50), 50)


def test_shipped_xanthoma_list_scores_nothing(spark):
    pop = Population()
    pop.patient("x", birth_date=born(60))
    pop.diagnosis("x", XANTHOMA, dt.date(2020, 2, 1))
    row = dlcn(pop.record(spark), AS_OF, DEFAULTS).collect()[0]
    assert row["dlcn_exam_points"] == 0


def test_thresholds_are_parameters(spark):
    pop = Population()
    pop.patient("a", sex="male", birth_date=born(60))
    pop.event("a", LDL, RECENT, 6.2)
    pop.diagnosis("a", CHD, birthday(born(60), 56))
    p = dict(DEFAULTS, dlcn_ldl_5_points_from=6.0, dlcn_premature_age_men=57)
    row = dlcn(pop.record(spark), AS_OF, p).collect()[0]
    assert (row["dlcn"], row["dlcn_ldl_points"], row["dlcn_history_points"]) == (7, 5, 2)


def test_lower_bound_note_names_what_is_missing():
    assert "lower bound" in LOWER_BOUND_NOTE and "family history" in LOWER_BOUND_NOTE
