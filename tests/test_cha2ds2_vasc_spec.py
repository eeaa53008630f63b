"""Spec tests for CHA2DS2-VASc as CLINICAL_RULES §4 scores it: one tiny patient per component rule."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from builders import (AS_OF, DIABETES, HYPERTENSION, HYPERTENSION_RESOLVED, PAD, STROKE, Population)
from engine.codes import SNOMED
from engine.features.facts import CHA2DS2_COMPONENTS as COMPONENTS, build as build_facts

OLD = dt.date(2015, 6, 1)
HEART_FAILURE = (SNOMED, "84114007")
TIA = (SNOMED, "266257000")
ARTERIAL_EMBOLISM = (SNOMED, "54687002")
MI, OLD_MI = (SNOMED, "22298006"), (SNOMED, "1755008")
ANGINA = (SNOMED, "194828000")                    # CHD register, but not an infarction
DVT, PE = (SNOMED, "128053003"), (SNOMED, "59282003")
DIABETES_RESOLVED = (SNOMED, "315051004")

# patient id → (expected score, expected factors text), the patient's attributes and record.
CASES: dict = {}


def case(score, factors, **attrs):
    def register(build):
        CASES[build.__name__] = (score, factors, attrs, build)
        return build
    return register


def born(years: int, days_after: int = 0) -> dt.date:
    """Birth date giving ``years`` completed on AS_OF; ``days_after`` > 0 → the birthday is still ahead."""
    return dt.date(AS_OF.year - years, AS_OF.month, AS_OF.day) + dt.timedelta(days=days_after)


def plain(pid: str, score: int, factors: str, **attrs) -> None:
    """A patient with no coded history: only sex and age score."""
    CASES[pid] = (score, factors, attrs, lambda p, pid: None)


# --- sex and age ---------------------------------------------------------------------------------
plain("male_50", 0, "", sex="male", age=50)
plain("female_50", 1, "female: 1", sex="female", age=50)
plain("male_65_tomorrow", 0, "", sex="male", birth_date=born(65, days_after=1))
plain("male_65_today", 1, "age 65: 1", sex="male", birth_date=born(65))
plain("male_75_tomorrow", 1, "age 74: 1", sex="male", birth_date=born(75, days_after=1))
plain("male_75_today", 2, "age 75: 2", sex="male", birth_date=born(75))
plain("female_91", 3, "age 91: 2, female: 1", sex="female", age=91)


# --- heart failure: a code ever ------------------------------------------------------------------
@case(1, "heart failure: 1", sex="male", age=50)
def heart_failure(p, pid): p.diagnosis(pid, HEART_FAILURE, OLD)


@case(1, "heart failure: 1", sex="male", age=50)
def heart_failure_since_resolved(p, pid):
    p.diagnosis(pid, HEART_FAILURE, OLD)
    p.diagnosis(pid, HEART_FAILURE, OLD + dt.timedelta(days=400), status="resolved")


@case(0, "", sex="male", age=50)
def heart_failure_refuted(p, pid): p.diagnosis(pid, HEART_FAILURE, OLD, status="refuted")


@case(0, "", sex="male", age=50)
def heart_failure_entered_in_error(p, pid): p.diagnosis(pid, HEART_FAILURE, OLD, status="entered-in-error")


@case(0, "", sex="male", age=50)
def heart_failure_after_as_of(p, pid): p.diagnosis(pid, HEART_FAILURE, AS_OF + dt.timedelta(days=1))


@case(1, "heart failure: 1", sex="male", age=50)
def heart_failure_on_as_of(p, pid): p.diagnosis(pid, HEART_FAILURE, AS_OF)


# --- hypertension: on the register ---------------------------------------------------------------
@case(1, "hypertension: 1", sex="male", age=50)
def hypertension(p, pid): p.diagnosis(pid, HYPERTENSION, OLD)


@case(0, "", sex="male", age=50)
def hypertension_resolved(p, pid):
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.diagnosis(pid, HYPERTENSION_RESOLVED, OLD + dt.timedelta(days=700))


@case(1, "hypertension: 1", sex="male", age=50)
def hypertension_rediagnosed(p, pid):
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.diagnosis(pid, HYPERTENSION_RESOLVED, OLD + dt.timedelta(days=700))
    p.diagnosis(pid, HYPERTENSION, OLD + dt.timedelta(days=1400))


@case(0, "", sex="male", age=50)
def hypertension_condition_resolved(p, pid):
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.diagnosis(pid, HYPERTENSION, OLD + dt.timedelta(days=300), status="resolved")


# --- diabetes: on the register -------------------------------------------------------------------
@case(1, "diabetes: 1", sex="male", age=50)
def diabetes(p, pid): p.diagnosis(pid, DIABETES, OLD)


@case(0, "", sex="male", age=50)
def diabetes_resolved(p, pid):
    p.diagnosis(pid, DIABETES, OLD)
    p.diagnosis(pid, DIABETES_RESOLVED, OLD + dt.timedelta(days=900))


# --- stroke / TIA / thromboembolism: 2 points, once ----------------------------------------------
@case(2, "stroke/TIA/thromboembolism: 2", sex="male", age=50)
def stroke(p, pid): p.diagnosis(pid, STROKE, OLD)


@case(2, "stroke/TIA/thromboembolism: 2", sex="male", age=50)
def tia(p, pid): p.diagnosis(pid, TIA, OLD)


@case(2, "stroke/TIA/thromboembolism: 2", sex="male", age=50)
def systemic_embolism(p, pid): p.diagnosis(pid, ARTERIAL_EMBOLISM, OLD)


@case(2, "stroke/TIA/thromboembolism: 2", sex="male", age=50)
def stroke_and_embolism_count_once(p, pid):
    p.diagnosis(pid, STROKE, OLD)
    p.diagnosis(pid, ARTERIAL_EMBOLISM, OLD + dt.timedelta(days=100))


@case(0, "", sex="male", age=50)
def venous_thromboembolism_does_not_score(p, pid):
    p.diagnosis(pid, DVT, OLD)
    p.diagnosis(pid, PE, OLD)


@case(0, "", sex="male", age=50)
def stroke_refuted(p, pid): p.diagnosis(pid, STROKE, OLD, status="refuted")


# --- vascular disease: prior MI or PAD -----------------------------------------------------------
@case(1, "vascular disease: 1", sex="male", age=50)
def myocardial_infarction(p, pid): p.diagnosis(pid, MI, OLD)


@case(1, "vascular disease: 1", sex="male", age=50)
def old_myocardial_infarction(p, pid): p.diagnosis(pid, OLD_MI, OLD)


@case(1, "vascular disease: 1", sex="male", age=50)
def peripheral_arterial_disease(p, pid): p.diagnosis(pid, PAD, OLD)


@case(1, "vascular disease: 1", sex="male", age=50)
def mi_and_pad_count_once(p, pid):
    p.diagnosis(pid, MI, OLD)
    p.diagnosis(pid, PAD, OLD)


@case(0, "", sex="male", age=50)
def angina_without_infarction_does_not_score(p, pid): p.diagnosis(pid, ANGINA, OLD)


# --- everything ----------------------------------------------------------------------------------
@case(9, "heart failure: 1, hypertension: 1, age 80: 2, diabetes: 1, stroke/TIA/thromboembolism: 2, "
         "vascular disease: 1, female: 1", sex="female", age=80)
def maximum_nine(p, pid):
    for coding in (HEART_FAILURE, HYPERTENSION, DIABETES, STROKE, MI, PAD, ARTERIAL_EMBOLISM):
        p.diagnosis(pid, coding, OLD)


@case(4, "hypertension: 1, age 70: 1, diabetes: 1, female: 1", sex="female", age=70)
def typical_mix(p, pid):
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.diagnosis(pid, DIABETES, OLD)


@pytest.fixture(scope="module")
def scored(spark):
    pop = Population()
    for pid, (_, _, attrs, build) in CASES.items():
        pop.patient(pid, **attrs)
        build(pop, pid)
    facts = build_facts(pop.record(spark), AS_OF)
    dates = [F.col(f"cha2ds2_{n}_date").alias(f"{n}_date") for n in ("chf", "hypertension", "diabetes", "stroke", "vascular")]
    return {r["patient_id"]: r.asDict() for r in facts.select(
        "patient_id", "age", "cha2ds2_vasc", "cha2ds2_vasc_factors", *[c for c, _ in COMPONENTS], *dates).collect()}


@pytest.mark.parametrize("pid", list(CASES))
def test_score(scored, pid):
    score, factors, _, _ = CASES[pid]
    row = scored[pid]
    assert (row["cha2ds2_vasc"], row["cha2ds2_vasc_factors"]) == (score, factors), pid


def test_one_row_per_patient(scored):
    assert set(scored) == set(CASES)


def test_component_columns_and_dates(scored):
    row = scored["maximum_nine"]
    assert {c: row[c] for c, _ in COMPONENTS} == {
        "chf_points": 1, "hypertension_points": 1, "age_points": 2, "diabetes_points": 1,
        "stroke_points": 2, "vascular_points": 1, "female_points": 1}
    assert row["age"] == 80
    assert all(row[f"{n}_date"] == OLD for n in ("chf", "hypertension", "diabetes", "stroke", "vascular"))
    later = scored["stroke_and_embolism_count_once"]
    assert later["stroke_date"] == OLD + dt.timedelta(days=100)
    assert scored["male_50"]["stroke_date"] is None
