"""Spec tests for CLINICAL_RULES §8, anticipatory care: membership per rule, ranking by the model's risk."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import AS_OF, DIABETES, CHD, PALLIATIVE, months_ago
from engine.codelists import load_codelist
from engine.codes import SNOMED
from engine.cohorts.anticipatory_care import COHORT
from spec import Spec, clinical_values

DEFICIT_LISTS = ("efi_activity_limitation", "efi_anaemia", "efi_arthritis", "efi_dizziness", "efi_dyspnoea",
                 "efi_foot_problems", "efi_hearing_impairment", "efi_osteoporosis", "efi_skin_ulcer",
                 "efi_visual_impairment")
MODERATE, SEVERE = (SNOMED, "925831000000107"), (SNOMED, "925861000000102")


def deficits(p, pid, k):
    for name in DEFICIT_LISTS[:k]:
        row = load_codelist(name).rows[0]
        p.event(pid, (row["system"], row["code"]), dt.date(2020, 1, 1), kind="condition")


def medicines(p, pid, n):
    lists = ("med_ppi_h2ra", "med_digoxin", "med_loop_diuretic", "med_beta_blocker_nonselective",
             "med_anticoagulant_oral", "med_benzodiazepine", "med_gabapentinoid", "med_opioid", "med_nsaid_oral",
             "med_z_drug")
    for k, name in enumerate(lists[:n]):
        row = next(r for r in load_codelist(name).rows if r["system"] == SNOMED)
        p.medication(pid, (row["system"], row["code"]), months_ago(1) - dt.timedelta(days=k))


def two_conditions(p, pid):
    p.diagnosis(pid, DIABETES, dt.date(2015, 1, 1))
    p.diagnosis(pid, CHD, dt.date(2016, 1, 1))


# patient id → listed?, with the record that earns it
SPEC = Spec("anticipatory_care", COHORT, age=78)
SPEC.add("efi_9_of_36", True, lambda p, pid: deficits(p, pid, 9))            # 0.250 > 0.24
SPEC.add("efi_8_of_36", False, lambda p, pid: deficits(p, pid, 8))           # 0.222
SPEC.add("moderate_frailty_code", True, lambda p, pid: p.event(pid, MODERATE, months_ago(5)))
SPEC.add("severe_frailty_code", True, lambda p, pid: p.event(pid, SEVERE, months_ago(5)))
SPEC.add("two_conditions_ten_medicines", True, lambda p, pid: (two_conditions(p, pid), medicines(p, pid, 10)))
SPEC.add("two_conditions_nine_medicines", False, lambda p, pid: (two_conditions(p, pid), medicines(p, pid, 9)))
SPEC.add("one_condition_ten_medicines", False, lambda p, pid: (p.diagnosis(pid, DIABETES, dt.date(2015, 1, 1)),
                                                               medicines(p, pid, 10)))
SPEC.add("aged_64_frail", False, lambda p, pid: deficits(p, pid, 10), age=64)
SPEC.add("aged_65_frail", True, lambda p, pid: deficits(p, pid, 10),
         birth_date=dt.date(AS_OF.year - 65, AS_OF.month, AS_OF.day))
SPEC.add("care_home_frail", False, lambda p, pid: deficits(p, pid, 10), address_care_home=True)
SPEC.add("palliative_frail", False, lambda p, pid: (deficits(p, pid, 10), p.event(pid, PALLIATIVE, months_ago(3))))
SPEC.add("not_frail", False, lambda p, pid: deficits(p, pid, 2))


@pytest.fixture(scope="module")
def risk(spark):
    """The model's scores, as the pipeline hands them to the cohort."""
    return {"risk": spark.createDataFrame(
        [("severe_frailty_code", 0.10, "age 78 (+3.0 points)"), ("moderate_frailty_code", 0.30, "falls (+9.0 points)"),
         ("efi_9_of_36", 0.30, "eFI (+2.0 points)"), ("two_conditions_ten_medicines", 0.05, "")],
        "patient_id string, risk_score double, top_factors string")}


def no_risk(spark):
    return {"risk": spark.createDataFrame([], "patient_id string, risk_score double, top_factors string")}


@pytest.fixture(scope="module")
def listed(spec_record, risk):
    return SPEC.listed(spec_record, inputs=risk)


@pytest.mark.parametrize("pid", list(SPEC.cases))
def test_rule(listed, pid):
    assert (pid in listed) == SPEC.cases[pid].expected, pid


def test_ranked_by_risk_then_efi(spec_record, risk):
    ranked = SPEC.worklist(spec_record, inputs=risk).worklist
    order = list(ranked["patient_id"])
    # equal risk 0.30: the higher eFI first (9 deficits vs none); unscored patients last
    assert order[:4] == ["efi_9_of_36", "moderate_frailty_code", "severe_frailty_code", "two_conditions_ten_medicines"]
    assert list(ranked["rank"]) == list(range(1, len(order) + 1))


def test_reason_and_evidence(listed):
    row = listed["moderate_frailty_code"]
    assert "moderate frailty coded" in row["reason"] and "risk 30.0%" in row["reason"]
    assert "top factors: falls" in row["reason"]
    assert "4 long-term conditions" not in row["reason"]
    multi = listed["two_conditions_ten_medicines"]["reason"]
    assert "2 long-term conditions with 10 current medicines" in multi
    assert "no risk score" in listed["aged_65_frail"]["reason"]
    ev = json.loads(listed["efi_9_of_36"]["evidence"])
    assert ev["efi_deficits"] == 9 and ev["risk"] == 0.3


def test_parameters_change_the_answer(spark, spec_record):
    chosen = ("efi_8_of_36", "two_conditions_nine_medicines")
    rows = SPEC.listed(spec_record, inputs=no_risk(spark),
                       overrides={"efi_frail_above": 0.2, "min_current_medicines": 9})
    assert {pid for pid in rows if pid in chosen} == set(chosen)


def test_clinical_values_match_clinical_rules():
    clinical_values(COHORT, {
        "min_age": (65, "Age ≥ 65"),
        "efi_frail_above": (0.24, "eFI > 0.24"),
        "min_long_term_conditions": (2, "≥ 2 long-term conditions"),
        "min_current_medicines": (10, "≥ 10 current medicines"),
    })


def test_explain_shows_the_values_in_force():
    text = COHORT.explain({"min_age": 70})
    assert "aged 70+" in text and "not QAdmissions" in text and "min_age = 70" in text
