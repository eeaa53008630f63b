"""Spec tests for CLINICAL_RULES §7, cancer safety-netting: one tiny patient per rule, one answer each."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import AS_OF, months_ago
from engine.codes import LOINC, SNOMED
from engine.cohorts.cancer_safety_netting import COHORT, GAPS
from engine.config import ConfigError
from spec import Spec, clinical_values

REF, FIT_GAP, PSA_GAP, PLT = ("referral without outcome", "FIT positive not referred", "raised PSA not referred",
                              "raised platelets not actioned")

FAST_TRACK = (SNOMED, "199251000000107")
BREAST, LOWER_GI, UROLOGY = (SNOMED, "276341000000100"), (SNOMED, "276401000000108"), (SNOMED, "276431000000102")
CARDIOLOGY = (SNOMED, "183519002")
SEEN_IN_CLINIC, BOWEL_CANCER = (SNOMED, "382651000000108"), (SNOMED, "363406005")
FIT, PSA, PSA_LOINC = (SNOMED, "1049361000000101"), (SNOMED, "63476009"), (LOINC, "2857-1")
FIT_OTHER = (SNOMED, "1049371000000108")
PLATELETS, PLATELETS_LOINC, CHEST_XRAY = (SNOMED, "1022651000000100"), (LOINC, "777-3"), (SNOMED, "399208008")


def ago(days: int) -> dt.date:
    return AS_OF - dt.timedelta(days=days)


def after(day: dt.date, days: int) -> dt.date:
    return day + dt.timedelta(days=days)


# patient id → expected band (None = must not be listed), with the record that earns it.
SPEC = Spec("cancer_safety_netting", COHORT)
case = SPEC.case


def seen(p, pid, coding, day, **kw):
    """A referral with its outcome (a finished linked encounter) a week later."""
    p.referral(pid, coding, day, outcome_date=after(day, 7), **kw)


# --- referral_no_outcome: the wait and the window -----------------------------------------------
@case(REF)
def referral_29_days_ago(p, pid): p.referral(pid, BREAST, ago(29))
@case(None)
def referral_28_days_ago(p, pid): p.referral(pid, BREAST, ago(28))
@case(REF)
def referral_exactly_6_months_ago(p, pid): p.referral(pid, LOWER_GI, months_ago(6))
@case(None)
def referral_6_months_and_a_day_ago(p, pid): p.referral(pid, LOWER_GI, months_ago(6, days=1))
@case(None)
def referral_after_as_of(p, pid): p.referral(pid, BREAST, after(AS_OF, 1))
@case(None)
def referral_not_in_codelist(p, pid): p.referral(pid, CARDIOLOGY, ago(60))


# --- what the referral is, not its status or priority --------------------------------------------
@case(REF)
def routine_priority_still_urgent_by_code(p, pid): p.referral(pid, FAST_TRACK, ago(60), priority="routine")
@case(REF)
def no_priority_recorded(p, pid): p.referral(pid, FAST_TRACK, ago(60), priority=None)
@case(REF)
def status_unknown(p, pid): p.referral(pid, BREAST, ago(60), status="unknown")
@case(REF)
def status_completed_is_not_an_outcome(p, pid): p.referral(pid, BREAST, ago(60), status="completed")
@case(None)
def referral_cancelled(p, pid): p.referral(pid, BREAST, ago(60), status="cancelled")
@case(None)
def referral_revoked(p, pid): p.referral(pid, BREAST, ago(60), status="revoked")
@case(None)
def referral_entered_in_error(p, pid): p.referral(pid, BREAST, ago(60), status="entered-in-error")
@case(None)
def referral_draft(p, pid): p.referral(pid, BREAST, ago(60), status="draft")


# --- outcomes ---------------------------------------------------------------------------------------
@case(None)
def linked_encounter_outcome(p, pid): p.referral(pid, BREAST, ago(60), outcome_date=ago(50))
@case(None)
def outcome_after_the_wait_still_closes(p, pid): p.referral(pid, BREAST, ago(90), outcome_date=ago(45))
@case(None)
def outcome_on_the_referral_day(p, pid): p.referral(pid, BREAST, ago(60), outcome_date=ago(60))
@case(REF)
def outcome_date_after_as_of(p, pid): p.referral(pid, BREAST, ago(60), outcome_date=after(AS_OF, 2))
@case(REF)
def outcome_date_before_the_referral(p, pid): p.referral(pid, BREAST, ago(60), outcome_date=ago(61))


@case(None)
def seen_in_clinic_code(p, pid):
    p.referral(pid, LOWER_GI, ago(60))
    p.event(pid, SEEN_IN_CLINIC, ago(45))


@case(REF)
def seen_in_clinic_code_before_the_referral(p, pid):
    p.event(pid, SEEN_IN_CLINIC, ago(200))
    p.referral(pid, LOWER_GI, ago(60))


@case(REF)
def seen_in_clinic_code_entered_in_error(p, pid):
    p.referral(pid, LOWER_GI, ago(60))
    p.event(pid, SEEN_IN_CLINIC, ago(45), status="entered-in-error")


@case(None)
def cancer_diagnosed_after(p, pid):
    p.referral(pid, LOWER_GI, ago(60))
    p.diagnosis(pid, BOWEL_CANCER, ago(40))


@case(REF)
def cancer_diagnosis_refuted(p, pid):
    p.referral(pid, LOWER_GI, ago(60))
    p.diagnosis(pid, BOWEL_CANCER, ago(40), status="refuted")


@case(REF)
def two_open_referrals(p, pid):
    p.referral(pid, BREAST, ago(100))
    p.referral(pid, LOWER_GI, ago(50))


@case(REF)
def linked_outcome_closes_only_its_own_referral(p, pid):
    p.referral(pid, BREAST, ago(100))
    p.referral(pid, LOWER_GI, ago(50), outcome_date=ago(40))


# --- fit_not_referred --------------------------------------------------------------------------------
@case(FIT_GAP)
def fit_10(p, pid): p.event(pid, FIT, ago(60), 10, unit="ug/g")
@case(None)
def fit_9_9(p, pid): p.event(pid, FIT, ago(60), 9.9, unit="ug/g")
@case(FIT_GAP)
def fit_15_days_ago(p, pid): p.event(pid, FIT, ago(15), 80)
@case(None)
def fit_14_days_ago(p, pid): p.event(pid, FIT, ago(14), 80)
@case(FIT_GAP)
def fit_exactly_6_months_ago(p, pid): p.event(pid, FIT, months_ago(6), 25)
@case(None)
def fit_6_months_and_a_day_ago(p, pid): p.event(pid, FIT, months_ago(6, days=1), 25)
@case(None)
def fit_entered_in_error(p, pid): p.event(pid, FIT, ago(60), 40, status="entered-in-error")
@case(None)
def fit_without_value(p, pid): p.event(pid, FIT, ago(60))


@case(None)
def fit_referred_within_14_days(p, pid):
    p.event(pid, FIT, ago(60), 40)
    seen(p, pid, LOWER_GI, ago(50))


@case(None)
def fit_referred_late_still_closes(p, pid):
    p.event(pid, FIT, ago(90), 40)
    seen(p, pid, LOWER_GI, ago(40))


@case(None)
def fit_referred_same_day(p, pid):
    p.event(pid, FIT, ago(60), 40)
    seen(p, pid, LOWER_GI, ago(60))


@case(None)
def fit_any_urgent_referral_closes(p, pid):
    p.event(pid, FIT, ago(60), 40)
    seen(p, pid, BREAST, ago(55))


@case(FIT_GAP)
def fit_after_an_earlier_referral(p, pid):
    seen(p, pid, LOWER_GI, ago(120))
    p.event(pid, FIT, ago(60), 40)


@case(FIT_GAP)
def fit_referral_cancelled(p, pid):
    p.event(pid, FIT, ago(60), 40)
    p.referral(pid, LOWER_GI, ago(50), status="cancelled")


@case(FIT_GAP)
def fit_older_positive_referred_newer_not(p, pid):
    p.event(pid, FIT, ago(150), 30)
    seen(p, pid, LOWER_GI, ago(140))
    p.event(pid, FIT, ago(40), 20)


# --- psa_not_referred: the age threshold at the test --------------------------------------------
@case(PSA_GAP, sex="male", age=45)
def psa_45_above_2_5(p, pid): p.event(pid, PSA, ago(60), 2.6, unit="ng/mL")
@case(None, sex="male", age=45)
def psa_45_at_2_5(p, pid): p.event(pid, PSA, ago(60), 2.5, unit="ng/mL")
@case(PSA_GAP, sex="male", age=55)
def psa_55_above_3_5(p, pid): p.event(pid, PSA, ago(60), 3.6)
@case(None, sex="male", age=55)
def psa_55_at_3_5(p, pid): p.event(pid, PSA, ago(60), 3.5)
@case(PSA_GAP, sex="male", age=65)
def psa_65_above_4_5(p, pid): p.event(pid, PSA, ago(60), 4.6)
@case(None, sex="male", age=65)
def psa_65_at_4_5(p, pid): p.event(pid, PSA, ago(60), 4.5)
@case(PSA_GAP, sex="male", age=75)
def psa_75_above_6_5(p, pid): p.event(pid, PSA, ago(60), 6.6)
@case(None, sex="male", age=75)
def psa_75_at_6_5(p, pid): p.event(pid, PSA, ago(60), 6.5)
@case(None, sex="male", age=39)
def psa_39_no_threshold(p, pid): p.event(pid, PSA, ago(60), 12)
@case(None, sex="male", age=80)
def psa_80_no_threshold(p, pid): p.event(pid, PSA, ago(60), 12)
@case(PSA_GAP, sex="male", age=79)
def psa_79_top_of_last_band(p, pid): p.event(pid, PSA, ago(60), 6.6)
@case(PSA_GAP, sex="male", age=62)
def psa_loinc_coded(p, pid): p.event(pid, PSA_LOINC, ago(60), 9.1)
@case(None, sex="male", age=62)
def psa_62_below_4_5(p, pid): p.event(pid, PSA, ago(60), 4.4)


# 49 on the test day (threshold 2.5), 50 on the run date (threshold 3.5): the age at the test decides.
@case(PSA_GAP, sex="male", birth_date=dt.date(1976, 2, 15))
def psa_age_at_the_test_not_today(p, pid): p.event(pid, PSA, dt.date(2026, 1, 30), 3.0)


@case(None, sex="male", age=66)
def psa_urology_referral_after(p, pid):
    p.event(pid, PSA, ago(60), 8.0)
    seen(p, pid, UROLOGY, ago(50))


@case(PSA_GAP, sex="male", age=66)
def psa_other_site_referral_does_not_close(p, pid):
    p.event(pid, PSA, ago(60), 8.0)
    seen(p, pid, LOWER_GI, ago(50))


@case(None, sex="male", age=66)
def psa_6_months_and_a_day_ago(p, pid): p.event(pid, PSA, months_ago(6, days=1), 8.0)


# --- platelets_not_actioned ----------------------------------------------------------------------
@case(PLT, age=40)
def platelets_401_age_40(p, pid): p.event(pid, PLATELETS, ago(60), 401, unit="10*9/L")
@case(None, age=40)
def platelets_400(p, pid): p.event(pid, PLATELETS, ago(60), 400, unit="10*9/L")
@case(None, age=39)
def platelets_401_age_39(p, pid): p.event(pid, PLATELETS, ago(60), 401)
@case(None, birth_date=dt.date(1986, 2, 15))
def platelets_age_39_at_test_40_now(p, pid): p.event(pid, PLATELETS, dt.date(2026, 1, 30), 520)
@case(PLT, age=70)
def platelets_loinc_coded(p, pid): p.event(pid, PLATELETS_LOINC, ago(60), 455)
@case(None, age=70)
def platelets_6_months_and_a_day_ago(p, pid): p.event(pid, PLATELETS, months_ago(6, days=1), 520)
@case(PLT, age=70)
def platelets_15_days_ago(p, pid): p.event(pid, PLATELETS, ago(15), 520)
@case(None, age=70)
def platelets_14_days_ago(p, pid): p.event(pid, PLATELETS, ago(14), 520)


@case(None, age=70)
def platelets_chest_xray_after(p, pid):
    p.event(pid, PLATELETS, ago(60), 520)
    p.event(pid, CHEST_XRAY, ago(40), kind="procedure")


@case(PLT, age=70)
def platelets_chest_xray_not_done(p, pid):
    p.event(pid, PLATELETS, ago(60), 520)
    p.event(pid, CHEST_XRAY, ago(40), kind="procedure", status="refuted")


@case(PLT, age=70)
def platelets_chest_xray_before(p, pid):
    p.event(pid, CHEST_XRAY, ago(90), kind="procedure")
    p.event(pid, PLATELETS, ago(60), 520)


@case(None, age=70)
def platelets_urgent_referral_after(p, pid):
    p.event(pid, PLATELETS, ago(60), 520)
    seen(p, pid, BREAST, ago(30))


# --- several gaps: the most overdue one is the band -----------------------------------------------
@case(REF)
def referral_more_overdue_than_fit(p, pid):
    p.referral(pid, BREAST, ago(100))            # 72 days overdue
    p.event(pid, FIT, ago(40), 30)               # 26 days overdue (the referral came before it)


@case(FIT_GAP)
def fit_more_overdue_than_referral(p, pid):
    p.event(pid, FIT, ago(110), 30)              # closed by the later referral
    p.referral(pid, BREAST, ago(100))            # 72 days overdue
    p.event(pid, FIT, ago(96), 30)               # after the referral: 82 days overdue


@case(REF)
def tie_goes_to_the_referral(p, pid):
    p.referral(pid, BREAST, ago(72))             # 44 days overdue
    p.event(pid, FIT, ago(58), 30)               # 44 days overdue


@case(PSA_GAP, sex="male", age=72)
def all_four_gaps(p, pid):
    p.referral(pid, BREAST, ago(90))             # 62 days overdue
    p.event(pid, FIT, ago(80), 12)               # 66
    p.event(pid, PSA, ago(120), 9.0)             # 106 (the breast referral is not urological)
    p.event(pid, PLATELETS, ago(85), 450)        # 71


# --- boundaries not covered above: each wait, window and age band, just below / at -------------------
@case(PSA_GAP, sex="male", age=66)
def psa_15_days_ago(p, pid): p.event(pid, PSA, ago(15), 8.0)
@case(None, sex="male", age=66)
def psa_14_days_ago(p, pid): p.event(pid, PSA, ago(14), 8.0)
@case(PSA_GAP, sex="male", age=66)
def psa_exactly_6_months_ago(p, pid): p.event(pid, PSA, months_ago(6), 8.0)
@case(PLT, age=70)
def platelets_exactly_6_months_ago(p, pid): p.event(pid, PLATELETS, months_ago(6), 520)
@case(PSA_GAP, sex="male", age=40)
def psa_40_bottom_of_first_band(p, pid): p.event(pid, PSA, ago(60), 2.6)
@case(PSA_GAP, sex="male", age=49)
def psa_49_at_3(p, pid): p.event(pid, PSA, ago(60), 3.0)
@case(None, sex="male", age=50)
def psa_50_at_3(p, pid): p.event(pid, PSA, ago(60), 3.0)
@case(PSA_GAP, sex="male", age=59)
def psa_59_at_4(p, pid): p.event(pid, PSA, ago(60), 4.0)
@case(None, sex="male", age=60)
def psa_60_at_4(p, pid): p.event(pid, PSA, ago(60), 4.0)
@case(PSA_GAP, sex="male", age=69)
def psa_69_at_5(p, pid): p.event(pid, PSA, ago(60), 5.0)
@case(None, sex="male", age=70)
def psa_70_at_5(p, pid): p.event(pid, PSA, ago(60), 5.0)
@case(None)
def linked_outcome_on_as_of(p, pid): p.referral(pid, BREAST, ago(60), outcome_date=AS_OF)


@case(None)
def seen_in_clinic_code_same_day(p, pid):
    p.referral(pid, LOWER_GI, ago(60))
    p.event(pid, SEEN_IN_CLINIC, ago(60))


@case(REF)
def seen_in_clinic_code_the_day_before(p, pid):
    p.referral(pid, LOWER_GI, ago(60))
    p.event(pid, SEEN_IN_CLINIC, ago(61))


@case(FIT_GAP)
def fit_referral_the_day_before(p, pid):
    seen(p, pid, LOWER_GI, ago(61))
    p.event(pid, FIT, ago(60), 40)


@case(None, sex="male", age=66)
def psa_urology_referral_same_day(p, pid):
    p.event(pid, PSA, ago(60), 8.0)
    seen(p, pid, UROLOGY, ago(60))


@case(PSA_GAP, sex="male", age=66)
def psa_urology_referral_the_day_before(p, pid):
    seen(p, pid, UROLOGY, ago(61))
    p.event(pid, PSA, ago(60), 8.0)


@case(None, age=70)
def platelets_chest_xray_same_day(p, pid):
    p.event(pid, PLATELETS, ago(60), 520)
    p.event(pid, CHEST_XRAY, ago(60), kind="procedure")


@case(PLT, age=70)
def platelets_chest_xray_the_day_before(p, pid):
    p.event(pid, CHEST_XRAY, ago(61), kind="procedure")
    p.event(pid, PLATELETS, ago(60), 520)


# --- which item is the gap's item: most overdue, then highest value, then source_id -----------------
@case(FIT_GAP)
def fit_two_same_day_highest_value_is_the_item(p, pid):
    p.event(pid, FIT, ago(60), 15, source_id="Observation/fit-a")
    p.event(pid, FIT, ago(60), 150, source_id="Observation/fit-b")


@case(FIT_GAP)
def fit_same_day_same_value_lowest_source_id(p, pid):
    p.event(pid, FIT, ago(60), 40, source_id="Observation/fit-z")       # the smaller code
    p.event(pid, FIT_OTHER, ago(60), 40, source_id="Observation/fit-a")  # the smaller source_id: the item


@case(FIT_GAP)
def fit_dual_coded_counts_once(p, pid):
    p.event(pid, FIT, ago(60), 40, source_id="Observation/fit-dual")
    p.event(pid, FIT_OTHER, ago(60), 40, source_id="Observation/fit-dual")


# --- eligibility ---------------------------------------------------------------------------------------
@case(None, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
def aged_17(p, pid): p.referral(pid, FAST_TRACK, ago(60))
@case(REF, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day))
def eighteenth_birthday_on_as_of(p, pid): p.referral(pid, FAST_TRACK, ago(60))
@case(None, death_date=ago(5))
def died(p, pid): p.referral(pid, FAST_TRACK, ago(60))
@case(None, registration_end=ago(5))
def deregistered(p, pid): p.referral(pid, FAST_TRACK, ago(60))


@pytest.fixture(scope="module")
def evaluated(spec_record):
    return SPEC.evaluated(spec_record)


@pytest.fixture(scope="module")
def listed(evaluated):
    return {pid: row for pid, row in evaluated.items() if row["member"]}


@pytest.mark.parametrize("pid", list(SPEC.cases))
def test_rule(listed, pid):
    expected = SPEC.cases[pid].expected
    got = listed.get(pid, {}).get("band")
    assert got == expected, f"{pid}: expected {expected!r}, got {got!r}"


def test_days_overdue_is_as_of_minus_date_plus_wait(listed):
    assert listed["referral_29_days_ago"]["days_overdue"] == 1
    assert listed["fit_15_days_ago"]["days_overdue"] == 1
    assert listed["fit_10"]["days_overdue"] == 46
    assert listed["platelets_15_days_ago"]["days_overdue"] == 1
    assert listed["all_four_gaps"]["days_overdue"] == 106


def test_every_gap_met_is_listed(listed):
    row = listed["all_four_gaps"]
    assert all(row[g] for g in GAPS)
    assert row["gaps"] == f"{REF}; {FIT_GAP}; {PSA_GAP}; {PLT}"
    assert (row["referral_no_outcome"], row["fit_not_referred"]) == (True, True)
    assert listed["referral_more_overdue_than_fit"]["gaps"] == f"{REF}; {FIT_GAP}"
    only = listed["fit_10"]
    assert [g for g in GAPS if only[g]] == ["fit_not_referred"] and only["gaps"] == FIT_GAP


def test_not_yet_overdue_is_a_trigger_without_a_gap(evaluated):
    row = evaluated["referral_28_days_ago"]
    assert row["has_trigger"] and not row["has_gap"] and not row["member"]
    assert not evaluated["fit_9_9"]["has_trigger"]
    assert not evaluated["psa_80_no_threshold"]["has_trigger"]


def test_item_is_the_most_overdue_gaps(listed):
    row = listed["all_four_gaps"]
    assert (row["item"], row["item_code"], row["item_value"], row["item_date"]) == ("PSA", "63476009", 9.0, ago(120))
    ref = listed["two_open_referrals"]
    assert (ref["item_code"], ref["item_date"], ref["item_value"]) == (BREAST[1], ago(100), None)
    assert ref["item"] == "Fast track referral for suspected breast cancer"
    fit = listed["fit_older_positive_referred_newer_not"]
    assert (fit["item_value"], fit["item_date"]) == (20, ago(40))


def test_reason_names_every_gap_most_overdue_first(listed):
    reason = listed["all_four_gaps"]["reason"]
    psa = f"PSA 9 ng/mL on {ago(120)} at age 71 (>6.5) with no urological urgent referral since: 106 days overdue (14-day wait)"
    plt = f"Platelets 450 ×10⁹/L on {ago(85)} at age 72 (>400) with no chest X-ray or urgent cancer referral since: 71 days overdue"
    fit = f"FIT 12 µg Hb/g on {ago(80)} (≥10) with no urgent cancer referral since: 66 days overdue"
    ref = (f"Urgent suspected-cancer referral (Fast track referral for suspected breast cancer) on {ago(90)} "
           "has no outcome recorded: 62 days overdue (28-day wait)")
    assert reason.startswith(psa) and reason.endswith(").")
    assert reason.index(psa) < reason.index(plt) < reason.index(fit) < reason.index(ref)


def test_reason_counts_further_open_items(listed):
    assert "; 2 open referrals)" in listed["two_open_referrals"]["reason"]
    assert "open referrals" not in listed["referral_29_days_ago"]["reason"]


def test_evidence_is_json_with_each_gap(listed):
    ev = json.loads(listed["all_four_gaps"]["evidence"])
    assert ev["window_start"] == months_ago(6).isoformat()
    assert ev["psa_not_referred"] == {"date": ago(120).isoformat(), "code": "63476009",
                                      "term": "Prostate specific antigen measurement", "value": 9.0,
                                      "age_at_test": 71, "threshold": 6.5, "days_overdue": 106, "count": 1}
    assert ev["referral_no_outcome"]["site"] == "breast"
    assert ev["platelets_not_actioned"]["value"] == 450 and ev["fit_not_referred"]["days_overdue"] == 66
    single = json.loads(listed["fit_10"]["evidence"])
    assert "referral_no_outcome" not in single or single["referral_no_outcome"] == {}


def test_windows_thresholds_and_sites_are_parameters(spec_record):
    chosen = ("referral_28_days_ago", "fit_9_9", "psa_55_at_3_5", "platelets_400",
              "referral_6_months_and_a_day_ago", "fit_15_days_ago", "psa_other_site_referral_does_not_close")
    rows = SPEC.listed(spec_record, overrides={
        "referral_wait_days": 27, "fit_at_least": 9.9, "psa_above_age_50_59": 3.4, "platelets_above": 399,
        "window_months": 7, "result_wait_days": 15,
        "psa_referral_sites": ["urological", "lower gastrointestinal"]})
    got = {pid: r["band"] for pid, r in rows.items() if pid in chosen}
    assert got == {"referral_28_days_ago": REF, "fit_9_9": FIT_GAP, "psa_55_at_3_5": PSA_GAP,
                   "platelets_400": PLT, "referral_6_months_and_a_day_ago": REF}


def test_unknown_or_mistyped_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter 'referral_wait'"):
        COHORT.params({"referral_wait": 30})
    with pytest.raises(ConfigError, match="must be a number"):
        COHORT.params({"fit_at_least": "ten"})


def test_explain_shows_current_values():
    text = COHORT.explain({"referral_wait_days": 21, "psa_above_age_70_79": 5.0})
    assert "more than 21 days later" in text and "70–79 >5.0" in text
    assert "referral_wait_days = 21" in text and "psa_above_age_70_79 = 5.0" in text


def test_each_boundary_is_one_day_overdue(listed):
    for pid in ("psa_15_days_ago", "referral_29_days_ago", "fit_15_days_ago", "platelets_15_days_ago"):
        assert listed[pid]["days_overdue"] == 1, pid
    six = (AS_OF - months_ago(6)).days
    assert listed["psa_exactly_6_months_ago"]["days_overdue"] == six - 14
    assert listed["referral_exactly_6_months_ago"]["days_overdue"] == six - 28


def test_item_ties_break_on_value_then_source_id_then_code(listed):
    high = listed["fit_two_same_day_highest_value_is_the_item"]
    assert high["item_value"] == 150
    assert json.loads(high["evidence"])["fit_not_referred"]["value"] == 150
    assert high["reason"].startswith(f"FIT 150 µg Hb/g on {ago(60)}") and "; 2 results not acted on)" in high["reason"]
    by_source = listed["fit_same_day_same_value_lowest_source_id"]
    assert by_source["item_code"] == FIT_OTHER[1]
    assert json.loads(by_source["evidence"])["fit_not_referred"]["count"] == 2
    dual = listed["fit_dual_coded_counts_once"]
    assert dual["item_code"] == FIT[1]
    assert json.loads(dual["evidence"])["fit_not_referred"]["count"] == 1
    assert "results not acted on" not in dual["reason"]


def test_each_criterion_failing_alone(evaluated):
    def flags(pid):
        row = evaluated[pid]
        return row["has_trigger"], row["has_gap"], row["member"]
    # has_gap fails alone: a trigger in the window, but not overdue or already closed
    for pid in ("referral_28_days_ago", "fit_14_days_ago", "psa_14_days_ago", "platelets_14_days_ago",
                "linked_encounter_outcome", "seen_in_clinic_code", "fit_referred_within_14_days",
                "psa_urology_referral_after", "platelets_chest_xray_after", "platelets_urgent_referral_after"):
        assert flags(pid) == (True, False, False), pid
    # has_trigger fails: nothing qualifying in the window. Every open gap item is a trigger, so
    # has_gap can never hold without has_trigger: it fails with it.
    for pid in ("fit_9_9", "fit_without_value", "psa_80_no_threshold", "psa_50_at_3", "platelets_400",
                "platelets_401_age_39", "referral_6_months_and_a_day_ago", "fit_6_months_and_a_day_ago",
                "referral_not_in_codelist", "referral_cancelled", "referral_after_as_of"):
        assert flags(pid) == (False, False, False), pid
    assert not any(row["has_gap"] and not row["has_trigger"] for row in evaluated.values())
    assert flags("referral_29_days_ago") == (True, True, True)


ORDER = Spec("cancer_safety_netting.order", COHORT)
# days overdue, and why each ranks where it does
ORDER.add("a_least_overdue", None, lambda p, pid: p.event(pid, FIT, ago(16), 30))                 # 2
ORDER.add("b_platelets_tie", None, lambda p, pid: p.event(pid, PLATELETS, ago(60), 520), age=70)  # 46, item ago(60)
ORDER.add("c_fit_tie", None, lambda p, pid: p.event(pid, FIT, ago(60), 30))      # 46, item ago(60): tie → patient_id
ORDER.add("d_most_overdue", None, lambda p, pid: p.referral(pid, BREAST, ago(100)))               # 72
ORDER.add("e_older_item", None, lambda p, pid: p.referral(pid, LOWER_GI, ago(74)))  # 46, item ago(74): before the tie
ORDER.add("f_not_yet_overdue", None, lambda p, pid: p.event(pid, FIT, ago(14), 30))               # a trigger, no gap
ORDER.add("g_other_pcn", None, lambda p, pid: p.event(pid, FIT, ago(20), 30),                     # 6
          practice="B20002")                                                         # a practice without a PCN


def test_worklist_order_per_pcn_with_ties(spec_record):
    result = ORDER.worklist(spec_record)
    wl = result.worklist
    # the shared record orders PCNs by their prefixed ids (UNASSIGNED first): compare in the test's PCN
    # order, each PCN's rows as the worklist ordered them
    got = sorted([(r["pcn_id"], r["rank"], r["patient_id"], r["days_overdue"]) for r in wl.to_dict("records")],
                 key=lambda row: row[0])
    assert got == [("U00001", 1, "d_most_overdue", 72), ("U00001", 2, "e_older_item", 46),
                   ("U00001", 3, "b_platelets_tie", 46), ("U00001", 4, "c_fit_tie", 46),
                   ("U00001", 5, "a_least_overdue", 2), ("UNASSIGNED", 1, "g_other_pcn", 6)]
    assert list(wl.loc[wl["pcn_id"] == "U00001", "band"][:4]) == [REF, REF, PLT, FIT_GAP]
    assert {*GAPS, "has_trigger", "has_gap", "gaps", "item", "evidence", "reason"} <= set(wl.columns)
    steps = {(a["pcn_id"], a["rule"]): a["patients"] for a in result.attrition}
    assert (steps[("U00001", "eligible")], steps[("U00001", "has_trigger")], steps[("U00001", "has_gap")]) == (6, 6, 5)


def test_clinical_values_match_clinical_rules():
    # yaml key → (expected value, a quote from CLINICAL_RULES.md stating it: §7, min_age from §0)
    expected = {
        "min_age": (18, "age ≥ 18 unless a rule says otherwise"),
        "window_months": (6, "in the last 6 months"),
        "referral_wait_days": (28, "a completed linked encounter) within 28 days"),
        "result_wait_days": (14, "FIT ≥ 10 µg Hb/g with no urgent referral within 14 days"),
        "fit_at_least": (10, "FIT ≥ 10 µg Hb/g"),
        "psa_above_age_40_49": (2.5, "40–49 > 2.5"),
        "psa_above_age_50_59": (3.5, "50–59 > 3.5"),
        "psa_above_age_60_69": (4.5, "60–69 > 4.5"),
        "psa_above_age_70_79": (6.5, "70–79 > 6.5 ng/mL"),
        "psa_referral_sites": (["urological"], "with no urological urgent referral"),
        "platelets_above": (400, "platelets > 400 ×10⁹/L"),
        "platelets_min_age": (40, "age ≥ 40, platelets"),
    }
    assert set(expected) == set(COHORT.parameters)
    clinical_values(COHORT, expected)
