"""Spec tests for engine.features.patient: one tiny patient per feature rule, evaluated once."""
from __future__ import annotations

import datetime as dt

import pytest

from builders import AS_OF, BMI, CHD, DIABETES, EGFR, HYPERTENSION, HYPERTENSION_RESOLVED, PAD, STROKE, months_ago
from engine.codes import LOINC, SNOMED
from engine.features.patient import EFI_COLUMNS, LTC, feature_columns, medicine_classes, risk_features
from spec import Spec

AF, AF_RESOLVED = (SNOMED, "49436004"), (SNOMED, "196371000000102")
ASTHMA, HEART_FAILURE = (SNOMED, "195967001"), (SNOMED, "84114007")
WARFARIN, PROPRANOLOL = (SNOMED, "319733000"), (SNOMED, "318352004")
DIAZEPAM, ZOPICLONE = (SNOMED, "321196004"), (SNOMED, "321177003")
FALL, EMERGENCY_CODE = (SNOMED, "1912002"), (SNOMED, "50849002")
NURSING_HOME = (SNOMED, "160734000")
LDL = (SNOMED, "1022191000000100")
SEVERE_FRAILTY, MODERATE_FRAILTY = (SNOMED, "925861000000102"), (SNOMED, "925831000000107")
LOINC_BMI = (LOINC, "39156-5")
OLD = dt.date(2015, 6, 1)
YEAR_AGO = months_ago(12)              # the first day inside "the last 12 months"


def days_ago(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


# The tests below check each patient's features column by column, so no case carries one expected answer.
SPEC = Spec("patient_features")
case = SPEC.case


def imd_decile(decile):
    """Population.patient() always writes decile 5: this patient's row gets ``decile`` instead."""
    def build(p, pid):
        next(r for r in p.rows["patients"] if r["patient_id"] == pid)["imd_decile"] = decile
    return build


SPEC.add("plain", None, None, age=55, sex="female")
for _pid, _decile in (("imd1", 1), ("imd3", 3), ("imd4", 4), ("imd10", 10), ("imd_missing", None)):
    SPEC.add(_pid, None, imd_decile(_decile))
SPEC.add("no_ethnicity", None, None, ethnicity_group=None, ethnicity_category=None)
SPEC.add("age_69_birthday_tomorrow", None, None, sex="male",
         birth_date=dt.date(AS_OF.year - 70, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
SPEC.add("dead", None, None, death_date=days_ago(1))
SPEC.add("left_practice", None, None, registration_end=days_ago(30))
SPEC.add("child", None, None, age=10)


@case(None, age=55, sex="female")
def all_ltc(p, pid):
    """Every long-term condition on its register."""
    for coding in (HYPERTENSION, DIABETES, CHD, STROKE, PAD, HEART_FAILURE, AF, ASTHMA):
        p.diagnosis(pid, coding, OLD)


@case(None, sex="male", age=50)
def ltc_resolved(p, pid):
    """Registers ended by a resolved code, a resolved Condition row, or recorded after as_of."""
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.event(pid, HYPERTENSION_RESOLVED, OLD + dt.timedelta(days=100))
    p.diagnosis(pid, AF, OLD)
    p.event(pid, AF_RESOLVED, OLD + dt.timedelta(days=100))
    p.diagnosis(pid, CHD, OLD)
    p.diagnosis(pid, CHD, OLD + dt.timedelta(days=100), status="resolved")
    p.diagnosis(pid, ASTHMA, AS_OF + dt.timedelta(days=1))
    p.diagnosis(pid, DIABETES, OLD, status="refuted")
    p.diagnosis(pid, HEART_FAILURE, AS_OF)                       # on as_of itself: counts


@case(None)
def meds(p, pid):
    """Exactly 90 days ago counts, 91 does not; an entered-in-error issue never counts; a medicine
    issued twice is one medicine."""
    p.medication(pid, WARFARIN, days_ago(90))
    p.medication(pid, PROPRANOLOL, days_ago(91))
    p.medication(pid, ZOPICLONE, days_ago(5), status="entered-in-error")
    p.medication(pid, DIAZEPAM, days_ago(60))
    p.medication(pid, DIAZEPAM, days_ago(30))
    p.medication(pid, WARFARIN, AS_OF + dt.timedelta(days=1))


@case(None)
def labs(p, pid):
    """The latest on or before as_of."""
    p.event(pid, EGFR, days_ago(400), 72)
    p.event(pid, EGFR, days_ago(20), 41.5)
    p.event(pid, EGFR, AS_OF + dt.timedelta(days=1), 12)
    p.event(pid, BMI, days_ago(3000), 24)
    p.event(pid, LOINC_BMI, days_ago(100), 31.2)


@case(None)
def admitted(p, pid):
    """The first day of the window counts, the day before does not; an admission both coded and an
    emergency encounter on one day counts once."""
    p.encounter(pid, YEAR_AGO, klass="emergency")
    p.encounter(pid, YEAR_AGO - dt.timedelta(days=1), klass="emergency")
    p.encounter(pid, days_ago(40), klass="emergency")
    p.event(pid, EMERGENCY_CODE, days_ago(40))
    p.encounter(pid, days_ago(10), klass="ambulatory")
    p.event(pid, FALL, YEAR_AGO)
    p.event(pid, FALL, YEAR_AGO - dt.timedelta(days=1))
    p.event(pid, FALL, days_ago(7))
    p.event(pid, (SNOMED, "161898004"), days_ago(7))              # same fall, second code
    p.event(pid, FALL, days_ago(3), status="entered-in-error")
    # 24 months: its first day counts, the day before does not
    p.encounter(pid, months_ago(24), klass="emergency")
    p.encounter(pid, months_ago(24, days=1), klass="emergency")


# frailty codes: the most severe ever recorded on or before as_of
@case(None)
def frail_moderate_then_severe(p, pid):
    p.event(pid, MODERATE_FRAILTY, OLD)
    p.event(pid, SEVERE_FRAILTY, days_ago(30))


@case(None)
def frail_severe_then_moderate(p, pid):
    p.event(pid, SEVERE_FRAILTY, OLD)
    p.event(pid, MODERATE_FRAILTY, days_ago(30))


@case(None)
def frail_moderate(p, pid): p.event(pid, MODERATE_FRAILTY, AS_OF)
@case(None)
def frail_severe_after_as_of(p, pid): p.event(pid, SEVERE_FRAILTY, AS_OF + dt.timedelta(days=1))
@case(None)
def frail_severe_in_error(p, pid): p.event(pid, SEVERE_FRAILTY, days_ago(30), status="entered-in-error")


SPEC.add("care_home_address", None, None, address_care_home=True)


@case(None)
def care_home_coded(p, pid): p.event(pid, NURSING_HOME, days_ago(200))


@case(None, sex="male", age=50)
def ldl(p, pid):
    """LDL 7.0 mmol/L → DLCN 5; male 50 with no history → CHA2DS2-VASc 0."""
    p.event(pid, LDL, days_ago(100), 7.0)


@pytest.fixture(scope="module")
def result(spec_record):
    facts = SPEC.facts(spec_record)
    df = risk_features(facts, AS_OF)
    return facts, df, {r["patient_id"].removeprefix(SPEC.prefix): r.asDict() for r in df.collect()}


@pytest.fixture(scope="module")
def rows(result):
    return result[2]


def test_one_row_per_patient(result):
    facts, df, rows = result
    assert df.count() == facts.count() == len(rows)


def test_columns(result):
    record, df, _ = result
    expected = feature_columns(record) + EFI_COLUMNS
    assert df.columns == expected
    assert {f"med_{c}" for c in medicine_classes(record)} >= {"med_anticoagulant_oral", "med_opioid", "med_z_drug"}
    types = dict(df.dtypes)
    for name in ["alive_registered", "care_home", *[f"ltc_{n}" for n in LTC],
                 *[f"med_{c}" for c in medicine_classes(record)]]:
        assert types[name] == "boolean", name
    for name in ("age", "imd_quintile", "ltc_count", "current_medicines", "emergency_admissions_12m",
                 "emergency_admissions_24m", "falls_12m", "cha2ds2_vasc", "dlcn"):
        assert types[name] == "int", name
    assert types["egfr"] == types["bmi"] == "double"
    assert types["frailty_coded"] == "string"


def test_plain_patient_defaults(rows):
    r = rows["plain"]
    assert (r["age"], r["sex"], r["imd_decile"], r["imd_quintile"], r["ethnicity_group"]) == (55, "female", 5, 3, "White")
    assert r["alive_registered"] is True
    assert all(r[f"ltc_{n}"] is False for n in LTC) and r["ltc_count"] == 0
    assert r["current_medicines"] == 0 and not any(v for k, v in r.items() if k.startswith("med_"))
    assert r["egfr"] is None and r["bmi"] is None
    assert (r["emergency_admissions_12m"], r["emergency_admissions_24m"], r["falls_12m"], r["care_home"]) == \
        (0, 0, 0, False)
    assert r["frailty_coded"] == "none"
    assert (r["cha2ds2_vasc"], r["dlcn"]) == (1, 0)


@pytest.mark.parametrize("pid, quintile", [("imd1", 1), ("imd3", 2), ("imd4", 2), ("imd10", 5), ("imd_missing", None)])
def test_imd_quintile(rows, pid, quintile):
    assert rows[pid]["imd_quintile"] == quintile


def test_missing_ethnicity_is_null(rows):
    assert rows["no_ethnicity"]["ethnicity_group"] is None


def test_age_in_whole_years_on_as_of(rows):
    assert rows["age_69_birthday_tomorrow"]["age"] == 69


@pytest.mark.parametrize("pid, expected", [("plain", True), ("dead", False), ("left_practice", False), ("child", True)])
def test_alive_registered(rows, pid, expected):
    assert rows[pid]["alive_registered"] is expected


def test_all_long_term_conditions(rows):
    r = rows["all_ltc"]
    assert all(r[f"ltc_{n}"] is True for n in LTC)
    assert r["ltc_count"] == len(LTC) == 8


def test_registers_end_and_future_codes_do_not_count(rows):
    r = rows["ltc_resolved"]
    assert r["ltc_hypertension"] is False      # resolved code
    assert r["ltc_af"] is False                # AF resolved code
    assert r["ltc_chd"] is False               # resolved Condition row
    assert r["ltc_asthma"] is False            # coded after as_of
    assert r["ltc_diabetes"] is False          # refuted
    assert r["ltc_heart_failure"] is True      # coded on as_of
    assert r["ltc_count"] == 1


def test_current_medicines_and_classes(rows):
    r = rows["meds"]
    assert r["current_medicines"] == 2                     # warfarin (day 90) and diazepam (issued twice)
    assert r["med_anticoagulant_oral"] is True
    assert r["med_benzodiazepine"] is True
    assert r["med_beta_blocker_nonselective"] is False     # 91 days ago
    assert r["med_z_drug"] is False                        # entered in error


def test_latest_labs(rows):
    r = rows["labs"]
    assert r["egfr"] == 41.5                               # not the later-than-as_of 12
    assert r["bmi"] == 31.2                                # LOINC code, latest


def test_emergency_admissions_and_falls_in_12_months(rows):
    r = rows["admitted"]
    assert r["emergency_admissions_12m"] == 2              # window's first day + the coded-and-encounter day
    assert r["falls_12m"] == 2                             # window's first day + one day coded twice
    # the 12 months' two days, the day before them, and the 24-month window's first day
    assert r["emergency_admissions_24m"] == 4


@pytest.mark.parametrize("pid, expected", [
    ("frail_moderate_then_severe", "severe"), ("frail_severe_then_moderate", "severe"),
    ("frail_moderate", "moderate"), ("frail_severe_after_as_of", "none"), ("frail_severe_in_error", "none")])
def test_frailty_coded_is_the_most_severe_code_ever(rows, pid, expected):
    assert rows[pid]["frailty_coded"] == expected


@pytest.mark.parametrize("pid", ["care_home_address", "care_home_coded"])
def test_care_home(rows, pid):
    assert rows[pid]["care_home"] is True


def test_scores(rows):
    # female 1, HF 1, hypertension 1, diabetes 1, stroke 2, PAD 1 (vascular) → 7
    assert rows["all_ltc"]["cha2ds2_vasc"] == 7
    # CHD first coded at 44 (woman, < 60) → premature CHD 2 points
    assert rows["all_ltc"]["dlcn"] == 2
    assert (rows["ldl"]["cha2ds2_vasc"], rows["ldl"]["dlcn"]) == (0, 5)
