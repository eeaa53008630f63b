"""Spec tests for CHA2DS2-VASc as CLINICAL_RULES §4 scores it: one tiny patient per component rule."""
from __future__ import annotations

import datetime as dt

import pytest

from builders import AS_OF, DIABETES, HYPERTENSION, HYPERTENSION_RESOLVED, PAD, STROKE
from engine.codes import SNOMED
from engine.features.facts import CHA2DS2_COMPONENTS as COMPONENTS
from spec import Spec

OLD = dt.date(2015, 6, 1)
HEART_FAILURE = (SNOMED, "84114007")
TIA = (SNOMED, "266257000")
ARTERIAL_EMBOLISM = (SNOMED, "54687002")
MI, OLD_MI = (SNOMED, "22298006"), (SNOMED, "1755008")
ANGINA = (SNOMED, "194828000")                    # CHD register, but not an infarction
DVT, PE = (SNOMED, "128053003"), (SNOMED, "59282003")
DIABETES_RESOLVED = (SNOMED, "315051004")
DATED = ("chf", "hypertension", "diabetes", "stroke", "vascular")

# patient id → (expected score, expected factors text), with the record that earns it; a man of 50
# unless stated, so only the coded history scores.
SPEC = Spec("cha2ds2_vasc", sex="male", age=50)
case = SPEC.case


def born(years: int, days_after: int = 0) -> dt.date:
    """Birth date giving ``years`` completed on AS_OF; ``days_after`` > 0 → the birthday is still ahead."""
    return dt.date(AS_OF.year - years, AS_OF.month, AS_OF.day) + dt.timedelta(days=days_after)


# --- sex and age: no coded history ----------------------------------------------------------------
SPEC.add("male_50", (0, ""), None, sex="male", age=50)
SPEC.add("female_50", (1, "female: 1"), None, sex="female", age=50)
SPEC.add("male_65_tomorrow", (0, ""), None, sex="male", birth_date=born(65, days_after=1))
SPEC.add("male_65_today", (1, "age 65: 1"), None, sex="male", birth_date=born(65))
SPEC.add("male_75_tomorrow", (1, "age 74: 1"), None, sex="male", birth_date=born(75, days_after=1))
SPEC.add("male_75_today", (2, "age 75: 2"), None, sex="male", birth_date=born(75))
SPEC.add("female_91", (3, "age 91: 2, female: 1"), None, sex="female", age=91)


# --- heart failure: a code ever ------------------------------------------------------------------
@case((1, "heart failure: 1"))
def heart_failure(p, pid): p.diagnosis(pid, HEART_FAILURE, OLD)


@case((1, "heart failure: 1"))
def heart_failure_since_resolved(p, pid):
    p.diagnosis(pid, HEART_FAILURE, OLD)
    p.diagnosis(pid, HEART_FAILURE, OLD + dt.timedelta(days=400), status="resolved")


@case((0, ""))
def heart_failure_refuted(p, pid): p.diagnosis(pid, HEART_FAILURE, OLD, status="refuted")


@case((0, ""))
def heart_failure_entered_in_error(p, pid): p.diagnosis(pid, HEART_FAILURE, OLD, status="entered-in-error")


@case((0, ""))
def heart_failure_after_as_of(p, pid): p.diagnosis(pid, HEART_FAILURE, AS_OF + dt.timedelta(days=1))


@case((1, "heart failure: 1"))
def heart_failure_on_as_of(p, pid): p.diagnosis(pid, HEART_FAILURE, AS_OF)


# --- hypertension: on the register ---------------------------------------------------------------
@case((1, "hypertension: 1"))
def hypertension(p, pid): p.diagnosis(pid, HYPERTENSION, OLD)


@case((0, ""))
def hypertension_resolved(p, pid):
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.diagnosis(pid, HYPERTENSION_RESOLVED, OLD + dt.timedelta(days=700))


@case((1, "hypertension: 1"))
def hypertension_rediagnosed(p, pid):
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.diagnosis(pid, HYPERTENSION_RESOLVED, OLD + dt.timedelta(days=700))
    p.diagnosis(pid, HYPERTENSION, OLD + dt.timedelta(days=1400))


@case((0, ""))
def hypertension_condition_resolved(p, pid):
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.diagnosis(pid, HYPERTENSION, OLD + dt.timedelta(days=300), status="resolved")


# --- diabetes: on the register -------------------------------------------------------------------
@case((1, "diabetes: 1"))
def diabetes(p, pid): p.diagnosis(pid, DIABETES, OLD)


@case((0, ""))
def diabetes_resolved(p, pid):
    p.diagnosis(pid, DIABETES, OLD)
    p.diagnosis(pid, DIABETES_RESOLVED, OLD + dt.timedelta(days=900))


# --- stroke / TIA / thromboembolism: 2 points, once ----------------------------------------------
@case((2, "stroke/TIA/thromboembolism: 2"))
def stroke(p, pid): p.diagnosis(pid, STROKE, OLD)


@case((2, "stroke/TIA/thromboembolism: 2"))
def tia(p, pid): p.diagnosis(pid, TIA, OLD)


@case((2, "stroke/TIA/thromboembolism: 2"))
def systemic_embolism(p, pid): p.diagnosis(pid, ARTERIAL_EMBOLISM, OLD)


@case((2, "stroke/TIA/thromboembolism: 2"))
def stroke_and_embolism_count_once(p, pid):
    p.diagnosis(pid, STROKE, OLD)
    p.diagnosis(pid, ARTERIAL_EMBOLISM, OLD + dt.timedelta(days=100))


@case((0, ""))
def venous_thromboembolism_does_not_score(p, pid):
    p.diagnosis(pid, DVT, OLD)
    p.diagnosis(pid, PE, OLD)


@case((0, ""))
def stroke_refuted(p, pid): p.diagnosis(pid, STROKE, OLD, status="refuted")


# --- vascular disease: prior MI or PAD -----------------------------------------------------------
@case((1, "vascular disease: 1"))
def myocardial_infarction(p, pid): p.diagnosis(pid, MI, OLD)


@case((1, "vascular disease: 1"))
def old_myocardial_infarction(p, pid): p.diagnosis(pid, OLD_MI, OLD)


@case((1, "vascular disease: 1"))
def peripheral_arterial_disease(p, pid): p.diagnosis(pid, PAD, OLD)


@case((1, "vascular disease: 1"))
def mi_and_pad_count_once(p, pid):
    p.diagnosis(pid, MI, OLD)
    p.diagnosis(pid, PAD, OLD)


@case((0, ""))
def angina_without_infarction_does_not_score(p, pid): p.diagnosis(pid, ANGINA, OLD)


# --- everything ----------------------------------------------------------------------------------
@case((9, "heart failure: 1, hypertension: 1, age 80: 2, diabetes: 1, stroke/TIA/thromboembolism: 2, "
          "vascular disease: 1, female: 1"), sex="female", age=80)
def maximum_nine(p, pid):
    for coding in (HEART_FAILURE, HYPERTENSION, DIABETES, STROKE, MI, PAD, ARTERIAL_EMBOLISM):
        p.diagnosis(pid, coding, OLD)


@case((4, "hypertension: 1, age 70: 1, diabetes: 1, female: 1"), sex="female", age=70)
def typical_mix(p, pid):
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.diagnosis(pid, DIABETES, OLD)


@pytest.fixture(scope="module")
def scored(spec_record):
    return SPEC.fact_rows(spec_record, "age", "cha2ds2_vasc", "cha2ds2_vasc_factors", *[c for c, _ in COMPONENTS],
                          *[f"cha2ds2_{n}_date" for n in DATED])


@pytest.mark.parametrize("pid", list(SPEC.cases))
def test_score(scored, pid):
    row = scored[pid]
    assert (row["cha2ds2_vasc"], row["cha2ds2_vasc_factors"]) == SPEC.cases[pid].expected, pid


def test_one_row_per_patient(scored):
    assert set(scored) == set(SPEC.cases)


def test_component_columns_and_dates(scored):
    row = scored["maximum_nine"]
    assert {c: row[c] for c, _ in COMPONENTS} == {
        "chf_points": 1, "hypertension_points": 1, "age_points": 2, "diabetes_points": 1,
        "stroke_points": 2, "vascular_points": 1, "female_points": 1}
    assert row["age"] == 80
    assert all(row[f"cha2ds2_{n}_date"] == OLD for n in DATED)
    later = scored["stroke_and_embolism_count_once"]
    assert later["cha2ds2_stroke_date"] == OLD + dt.timedelta(days=100)
    assert scored["male_50"]["cha2ds2_stroke_date"] is None
