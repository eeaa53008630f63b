"""Spec tests for CLINICAL_RULES §3, undiagnosed hypertension: one tiny patient per rule, one answer each."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import (AS_OF, BMI, CHD, DIABETES, EGFR, HOME_SYS, HYPERTENSION, HYPERTENSION_RESOLVED,
                      PAD, PALLIATIVE, PREGNANT, STROKE, months_ago)
from engine.cohorts.hypertension import COHORT
from engine.config import ConfigError
from spec import Spec, clinical_values

RECENT = months_ago(2)
S1, S1R, S2, SEV = "stage 1", "stage 1 with risk factor", "stage 2", "severe"

# patient id → expected band (None = must not be listed), with the record that earns it.
SPEC = Spec("hypertension", COHORT)
case = SPEC.case


# --- thresholds, clinic ---------------------------------------------------------------------------
@case(S1)
def clinic_140_systolic(p, pid): p.bp(pid, RECENT, 140, 70)
@case(S1)
def clinic_90_diastolic(p, pid): p.bp(pid, RECENT, 120, 90)
@case(None)
def clinic_139_89(p, pid): p.bp(pid, RECENT, 139, 89)
@case(S2)
def clinic_160(p, pid): p.bp(pid, RECENT, 160, 80)
@case(S2)
def clinic_100(p, pid): p.bp(pid, RECENT, 130, 100)
@case(S1)
def clinic_159_99(p, pid): p.bp(pid, RECENT, 159, 99)
@case(SEV)
def clinic_180(p, pid): p.bp(pid, RECENT, 180, 80)
@case(SEV)
def clinic_120_diastolic(p, pid): p.bp(pid, RECENT, 150, 120)
@case(S2)
def clinic_179_119(p, pid): p.bp(pid, RECENT, 179, 119)
@case(S1)
def loinc_coded_reading(p, pid): p.bp(pid, RECENT, 145, 85, setting="loinc")


# --- thresholds, home / ABPM ----------------------------------------------------------------------
@case(S1)
def home_135(p, pid): p.bp(pid, RECENT, 135, 70, setting="home")
@case(S1)
def home_85(p, pid): p.bp(pid, RECENT, 120, 85, setting="home")
@case(None)
def home_134_84(p, pid): p.bp(pid, RECENT, 134, 84, setting="home")
@case(S2)
def home_150(p, pid): p.bp(pid, RECENT, 150, 80, setting="home")
@case(S2)
def home_95(p, pid): p.bp(pid, RECENT, 120, 95, setting="home")
@case(S1)
def home_149_94(p, pid): p.bp(pid, RECENT, 149, 94, setting="home")
@case(SEV)
def home_170(p, pid): p.bp(pid, RECENT, 170, 80, setting="home")
@case(SEV)
def home_115(p, pid): p.bp(pid, RECENT, 120, 115, setting="home")
@case(S2)
def home_169_114(p, pid): p.bp(pid, RECENT, 169, 114, setting="home")


@case(S1)
def clinic_values_on_a_home_day(p, pid):
    # 137/80 is normal in clinic but raised at home; any home code makes the day a home day
    p.bp(pid, RECENT, 137, 80)
    p.event(pid, HOME_SYS, RECENT, 150)
    p.event(pid, HOME_SYS, RECENT, 137)


@case(None)
def clinic_137_80(p, pid): p.bp(pid, RECENT, 137, 80)


# --- which reading counts -------------------------------------------------------------------------
@case(None)
def raised_then_normal(p, pid):
    p.bp(pid, months_ago(6), 165, 100)
    p.bp(pid, RECENT, 128, 78)


@case(S2)
def normal_then_raised(p, pid):
    p.bp(pid, months_ago(6), 128, 78)
    p.bp(pid, RECENT, 165, 80)


@case(None)
def lowest_of_day_is_normal(p, pid):
    p.bp(pid, RECENT, 150, 95)
    p.bp(pid, RECENT, 138, 88)


@case(S1)
def lowest_of_day_pairs_across_readings(p, pid):
    # lowest systolic 158 and lowest diastolic 85 come from different readings: 158/85 is stage 1
    p.bp(pid, RECENT, 165, 85)
    p.bp(pid, RECENT, 158, 92)


@case(S1)
def reading_exactly_24_months_ago(p, pid): p.bp(pid, months_ago(24), 145, 80)
@case(None)
def reading_24_months_and_a_day_ago(p, pid): p.bp(pid, months_ago(24, days=1), 145, 80)


@case(None)
def future_dated_raised_reading_ignored(p, pid):
    p.bp(pid, RECENT, 125, 75)
    p.bp(pid, AS_OF + dt.timedelta(days=3), 190, 125)


@case(None)
def implausible_systolic_ignored(p, pid): p.bp(pid, RECENT, 400, 80)


@case(None)
def systolic_without_diastolic(p, pid):
    p.event(pid, ("http://snomed.info/sct", "72313002"), RECENT, 170)


# --- diagnosis history -----------------------------------------------------------------------------
@case(None)
def diagnosed(p, pid):
    p.diagnosis(pid, HYPERTENSION, dt.date(2019, 5, 1))
    p.bp(pid, RECENT, 170, 100)


@case(S2)
def diagnosis_resolved_by_code(p, pid):
    p.diagnosis(pid, HYPERTENSION, dt.date(2015, 5, 1))
    p.diagnosis(pid, HYPERTENSION_RESOLVED, dt.date(2017, 5, 1))
    p.bp(pid, RECENT, 165, 95)


@case(None)
def rediagnosed_after_resolution(p, pid):
    p.diagnosis(pid, HYPERTENSION, dt.date(2015, 5, 1))
    p.diagnosis(pid, HYPERTENSION_RESOLVED, dt.date(2017, 5, 1))
    p.diagnosis(pid, HYPERTENSION, dt.date(2020, 5, 1))
    p.bp(pid, RECENT, 165, 95)


@case(S2)
def condition_resolved_status(p, pid):
    p.diagnosis(pid, HYPERTENSION, dt.date(2015, 5, 1))
    p.diagnosis(pid, HYPERTENSION, dt.date(2016, 5, 1), status="resolved")
    p.bp(pid, RECENT, 165, 95)


@case(S1)
def condition_recorded_as_already_resolved(p, pid):
    p.diagnosis(pid, HYPERTENSION, dt.date(2016, 5, 1))
    p.diagnosis(pid, HYPERTENSION, dt.date(2016, 5, 1), status="resolved")
    p.bp(pid, RECENT, 145, 80)


@case(S1)
def diagnosis_entered_in_error(p, pid):
    p.diagnosis(pid, HYPERTENSION, dt.date(2019, 5, 1), status="entered-in-error")
    p.bp(pid, RECENT, 145, 80)


@case(S1)
def diagnosis_refuted(p, pid):
    p.diagnosis(pid, HYPERTENSION, dt.date(2019, 5, 1), status="refuted")
    p.bp(pid, RECENT, 145, 80)


@case(S1)
def diagnosis_after_as_of_not_seen(p, pid):
    p.diagnosis(pid, HYPERTENSION, AS_OF + dt.timedelta(days=1))
    p.bp(pid, RECENT, 145, 80)


# --- stage 1 risk factors -------------------------------------------------------------------------
def stage1(p, pid): p.bp(pid, RECENT, 145, 85)


@case(S1R, ethnicity_group="Black", ethnicity_category="Caribbean")
def risk_black(p, pid): stage1(p, pid)
@case(S1R, ethnicity_group="Asian", ethnicity_category="Indian")
def risk_indian(p, pid): stage1(p, pid)
@case(S1R, ethnicity_group="Asian", ethnicity_category="Pakistani")
def risk_pakistani(p, pid): stage1(p, pid)
@case(S1R, ethnicity_group="Asian", ethnicity_category="Bangladeshi")
def risk_bangladeshi(p, pid): stage1(p, pid)
@case(S1, ethnicity_group="Asian", ethnicity_category="Chinese")
def no_risk_chinese(p, pid): stage1(p, pid)
@case(S1, ethnicity_group="Mixed", ethnicity_category="White and Black Caribbean")
def no_risk_mixed_white_black_caribbean(p, pid): stage1(p, pid)


@case(S1R)
def risk_diabetes(p, pid):
    stage1(p, pid)
    p.diagnosis(pid, DIABETES, dt.date(2018, 1, 1))


@case(S1)
def diabetes_refuted(p, pid):
    stage1(p, pid)
    p.diagnosis(pid, DIABETES, dt.date(2018, 1, 1), status="refuted")


@case(S1R)
def risk_egfr_59(p, pid):
    stage1(p, pid)
    p.event(pid, EGFR, months_ago(3), 59)


@case(S1)
def egfr_60(p, pid):
    stage1(p, pid)
    p.event(pid, EGFR, months_ago(3), 60)


@case(S1)
def egfr_low_then_normal(p, pid):
    stage1(p, pid)
    p.event(pid, EGFR, months_ago(20), 45)
    p.event(pid, EGFR, months_ago(3), 75)


@case(S1R)
def risk_bmi_35_1(p, pid):
    stage1(p, pid)
    p.event(pid, BMI, months_ago(3), 35.1)


@case(S1)
def bmi_35(p, pid):
    stage1(p, pid)
    p.event(pid, BMI, months_ago(3), 35.0)


@case(S1R)
def risk_chd(p, pid):
    stage1(p, pid)
    p.diagnosis(pid, CHD, dt.date(2012, 1, 1))


@case(S1R)
def risk_stroke_tia(p, pid):
    stage1(p, pid)
    p.diagnosis(pid, STROKE, dt.date(2012, 1, 1))


@case(S1R)
def risk_pad(p, pid):
    stage1(p, pid)
    p.diagnosis(pid, PAD, dt.date(2012, 1, 1))


@case(SEV)
def severe_with_risk_factor_stays_severe(p, pid):
    p.bp(pid, RECENT, 185, 100)
    p.diagnosis(pid, DIABETES, dt.date(2018, 1, 1))


# --- exclusions and eligibility -------------------------------------------------------------------
@case(None)
def palliative(p, pid):
    stage1(p, pid)
    p.event(pid, PALLIATIVE, dt.date(2025, 1, 1))


@case(None)
def pregnant_10_weeks_ago(p, pid):
    stage1(p, pid)
    p.event(pid, PREGNANT, AS_OF - dt.timedelta(weeks=10))


@case(S1)
def pregnancy_43_weeks_ago(p, pid):
    stage1(p, pid)
    p.event(pid, PREGNANT, AS_OF - dt.timedelta(weeks=43))


@case(None, death_date=AS_OF - dt.timedelta(days=1))
def died_before_as_of(p, pid): stage1(p, pid)
@case(S1, death_date=AS_OF + dt.timedelta(days=1))
def died_after_as_of(p, pid): stage1(p, pid)
@case(None, deceased=True)
def deceased_without_date(p, pid): stage1(p, pid)
@case(None, registration_end=AS_OF - dt.timedelta(days=1))
def deregistered(p, pid): stage1(p, pid)
@case(S1, registration_end=AS_OF + dt.timedelta(days=30))
def registration_ends_after_as_of(p, pid): stage1(p, pid)
@case(None, registration_start=AS_OF + dt.timedelta(days=1))
def registers_after_as_of(p, pid): stage1(p, pid)
@case(S1, registration_start=None)
def no_registration_data(p, pid): stage1(p, pid)
@case(None, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
def aged_17(p, pid): stage1(p, pid)
@case(S1, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day))
def eighteenth_birthday_on_as_of(p, pid): stage1(p, pid)


@pytest.fixture(scope="module")
def listed(spec_record):
    return SPEC.listed(spec_record)


@pytest.mark.parametrize("pid", list(SPEC.cases))
def test_rule(listed, pid):
    expected = SPEC.cases[pid].expected
    got = listed.get(pid, {}).get("band")
    assert got == expected, f"{pid}: expected {expected!r}, got {got!r}"


def test_reason_quotes_the_reading_and_band(listed):
    row = listed["clinic_160"]
    assert row["reason"].startswith(f"Clinic BP 160/80 on {RECENT.isoformat()} (stage 2: ≥160/100 clinic)")
    assert row["reason"].endswith("no hypertension diagnosis.")
    home = listed["home_95"]["reason"]
    assert "Home BP 120/95" in home and "≥150/95 home/ABPM" in home


def test_reason_names_each_risk_factor(listed):
    assert "risk factors: eGFR 59 on" in listed["risk_egfr_59"]["reason"]
    assert "risk factors: BMI 35.1 on" in listed["risk_bmi_35_1"]["reason"]
    assert "risk factors: ethnicity Pakistani" in listed["risk_pakistani"]["reason"]
    assert "risk factors: diabetes" in listed["risk_diabetes"]["reason"]
    assert "risk factors: stroke/TIA" in listed["risk_stroke_tia"]["reason"]


def test_reason_mentions_resolved_diagnosis_and_raised_count(listed):
    assert "last hypertension code 2017-05-01, since resolved" not in listed["diagnosis_resolved_by_code"]["reason"]
    assert "last hypertension code 2015-05-01, since resolved" in listed["diagnosis_resolved_by_code"]["reason"]
    normal_then_raised = listed["normal_then_raised"]["reason"]
    assert "raised readings since" not in normal_then_raised


def test_evidence_is_json_with_the_reading(listed):
    ev = json.loads(listed["lowest_of_day_pairs_across_readings"]["evidence"])
    assert (ev["systolic"], ev["diastolic"], ev["setting"], ev["bp_date"]) == (158, 85, "clinic", RECENT.isoformat())


def test_threshold_is_a_parameter(spec_record):
    chosen = ("clinic_137_80", "clinic_139_89", "home_134_84")
    rows = SPEC.listed(spec_record, overrides={"clinic_stage1_systolic": 135, "home_stage1_diastolic": 84})
    got = {pid: r["band"] for pid, r in rows.items() if pid in chosen}
    assert got == {"clinic_137_80": S1, "clinic_139_89": S1, "home_134_84": S1}


def test_unknown_or_mistyped_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter 'clinic_stage_1_systolic'"):
        COHORT.params({"clinic_stage_1_systolic": 150})
    with pytest.raises(ConfigError, match="must be a number"):
        COHORT.params({"clinic_stage1_systolic": "high"})


def test_explain_shows_current_values():
    text = COHORT.explain({"clinic_stage1_systolic": 150})
    assert "clinic ≥150/90" in text and "clinic_stage1_systolic = 150" in text


def test_clinical_values_match_clinical_rules():
    severe, stage2 = "| severe | ≥ 180 or ≥ 120 | ≥ 170 or ≥ 115 |", "| stage 2 | ≥ 160 or ≥ 100 | ≥ 150 or ≥ 95 |"
    clinical_values(COHORT, {
        "min_age": (18, "age ≥ 18 unless a rule says otherwise"),
        "bp_window_months": (24, "paired BP in the last 24 months"),
        "pregnancy_weeks": (42, "no pregnancy code in 42 weeks"),
        "clinic_stage1_systolic": (140, "clinic ≥ 140 systolic or ≥ 90 diastolic"),
        "clinic_stage1_diastolic": (90, "clinic ≥ 140 systolic or ≥ 90 diastolic"),
        "home_stage1_systolic": (135, "home/ABPM ≥ 135 or ≥ 85"),
        "home_stage1_diastolic": (85, "home/ABPM ≥ 135 or ≥ 85"),
        "clinic_severe_systolic": (180, severe), "clinic_severe_diastolic": (120, severe),
        "home_severe_systolic": (170, severe), "home_severe_diastolic": (115, severe),
        "clinic_stage2_systolic": (160, stage2), "clinic_stage2_diastolic": (100, stage2),
        "home_stage2_systolic": (150, stage2), "home_stage2_diastolic": (95, stage2),
        "risk_egfr_below": (60, "latest eGFR < 60"),
        "risk_bmi_above": (35, "BMI > 35"),
        "risk_ethnicity_groups": (["Black"], "Black or South Asian ethnicity"),
        "risk_ethnicity_categories": (["Indian", "Pakistani", "Bangladeshi"], "Black or South Asian ethnicity"),
    })


# --- each criterion failing alone, and the worklist order -------------------------------------------
FAILING_ALONE = Spec("hypertension.failing_alone", COHORT)
FAILING_ALONE.add("not_on_register", None, lambda p, pid: (stage1(p, pid),
                                                           p.diagnosis(pid, HYPERTENSION, dt.date(2019, 5, 1))))
FAILING_ALONE.add("not_palliative", None, lambda p, pid: (stage1(p, pid), p.event(pid, PALLIATIVE, dt.date(2025, 1, 1))))
FAILING_ALONE.add("not_pregnant", None, lambda p, pid: (stage1(p, pid),
                                                        p.event(pid, PREGNANT, AS_OF - dt.timedelta(weeks=42))))
FAILING_ALONE.add("bp_in_window", None, lambda p, pid: p.bp(pid, months_ago(24, days=1), 150, 95))
FAILING_ALONE.add("bp_raised", None, lambda p, pid: p.bp(pid, RECENT, 139, 89))


def test_each_criterion_failing_alone_unlists_at_that_step(spec_record):
    """Every earlier criterion holds, this one fails (later ones may depend on it: no reading in the
    window cannot be raised), and the patient is not listed."""
    rows = FAILING_ALONE.evaluated(spec_record)
    assert set(rows) == set(FAILING_ALONE.cases)
    for name in FAILING_ALONE.cases:
        names = [c.name for c in COHORT.criteria]
        upto = names[:names.index(name) + 1]
        assert {c: rows[name][c] for c in upto} == {c: c != name for c in upto}, name
        assert rows[name]["member"] is False and rows[name]["band"] is None


ORDER = Spec("hypertension.order", COHORT)
for _pid, _date, _sys, _dia in (("f_stage1", RECENT, 145, 80), ("e_stage2_older", months_ago(6), 165, 80),
                                ("d_stage2_tie", RECENT, 165, 80), ("c_stage2_tie", RECENT, 165, 80),
                                ("b_stage2_higher", RECENT, 170, 80), ("a_severe", months_ago(6), 181, 80)):
    ORDER.add(_pid, None, lambda p, pid, d=_date, s=_sys, di=_dia: p.bp(pid, d, s, di))


def test_worklist_order_band_then_systolic_then_days_then_patient_id(spec_record):
    order = list(ORDER.worklist(spec_record).worklist["patient_id"])
    assert order == ["a_severe", "b_stage2_higher", "c_stage2_tie", "d_stage2_tie", "e_stage2_older", "f_stage1"]
