"""Spec tests for CLINICAL_RULES §4b, AF not anticoagulated: one tiny patient per rule, one answer each."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import AS_OF, DIABETES, HYPERTENSION, HYPERTENSION_RESOLVED, PAD, PALLIATIVE, STROKE, months_ago
from engine.codes import RXNORM, SNOMED
from engine.cohorts.af_anticoagulation import COHORT
from engine.config import ConfigError
from spec import Spec, clinical_values

LISTED = "not anticoagulated"
OLD = dt.date(2016, 3, 1)
AF, PAROXYSMAL_AF, AF_RESOLVED = (SNOMED, "49436004"), (SNOMED, "282825002"), (SNOMED, "196371000000102")
HEART_FAILURE, TIA, EMBOLISM = (SNOMED, "84114007"), (SNOMED, "266257000"), (SNOMED, "54687002")
MI, ANGINA = (SNOMED, "22298006"), (SNOMED, "194828000")
DIABETES_RESOLVED = (SNOMED, "315051004")
APIXABAN_DMD, WARFARIN_RX, EDOXABAN_RX = (SNOMED, "703908001"), (RXNORM, "855332"), (RXNORM, "1599555")
APIXABAN_RX = (RXNORM, "1364445")

# patient id → expected band (None = must not be listed), with the record that earns it.
SPEC = Spec("af_anticoagulation", COHORT, sex="male")
case = SPEC.case


def born(years: int, days_after: int = 0) -> dt.date:
    return dt.date(AS_OF.year - years, AS_OF.month, AS_OF.day) + dt.timedelta(days=days_after)


def af(p, pid, *codings):
    """On the AF register since OLD, with each coding recorded (as a diagnosis) the same year."""
    p.diagnosis(pid, AF, OLD)
    for coding in codings:
        p.diagnosis(pid, coding, OLD + dt.timedelta(days=30))


def with_codes(*codings):
    return lambda p, pid: af(p, pid, *codings)


# --- the score threshold (male under 65 unless stated: 0 points from age and sex) ----------------
SPEC.add("male_75_today", LISTED, with_codes(), sex="male", birth_date=born(75))
SPEC.add("male_75_tomorrow", None, with_codes(), sex="male", birth_date=born(75, days_after=1))
SPEC.add("male_65_today_hypertension", LISTED, with_codes(HYPERTENSION), sex="male", birth_date=born(65))
SPEC.add("male_65_tomorrow_hypertension", None, with_codes(HYPERTENSION), sex="male",
         birth_date=born(65, days_after=1))
SPEC.add("female_64_no_factor", None, with_codes(), sex="female", age=64)
SPEC.add("female_64_hypertension", LISTED, with_codes(HYPERTENSION), sex="female", age=64)
SPEC.add("male_hypertension_only", None, with_codes(HYPERTENSION))
SPEC.add("male_stroke", LISTED, with_codes(STROKE))
SPEC.add("male_tia", LISTED, with_codes(TIA))
SPEC.add("male_systemic_embolism", LISTED, with_codes(EMBOLISM))
SPEC.add("male_heart_failure_diabetes", LISTED, with_codes(HEART_FAILURE, DIABETES))
SPEC.add("male_mi_hypertension", LISTED, with_codes(MI, HYPERTENSION))
SPEC.add("male_pad_diabetes", LISTED, with_codes(PAD, DIABETES))
SPEC.add("male_angina_hypertension", None, with_codes(ANGINA, HYPERTENSION))
SPEC.add("male_heart_failure_refuted", None,
         lambda p, pid: (af(p, pid, HYPERTENSION), p.diagnosis(pid, HEART_FAILURE, OLD, status="refuted")))
SPEC.add("female_85_everything", LISTED, with_codes(HEART_FAILURE, HYPERTENSION, DIABETES, STROKE, MI),
         sex="female", age=85)


@case(None)
def male_hypertension_resolved_diabetes(p, pid):
    af(p, pid, HYPERTENSION, DIABETES)
    p.event(pid, HYPERTENSION_RESOLVED, OLD + dt.timedelta(days=400))


@case(None)
def male_diabetes_resolved_hypertension(p, pid):
    af(p, pid, HYPERTENSION, DIABETES)
    p.event(pid, DIABETES_RESOLVED, OLD + dt.timedelta(days=400))


# --- anticoagulant window (female 80: score 3) -----------------------------------------------------
def issued(coding, day, status="completed"):
    def build(p, pid):
        af(p, pid)
        p.medication(pid, coding, day, status=status)
    return build


SPEC.add("apixaban_3_months_ago", None, issued(APIXABAN_DMD, months_ago(3)), sex="female", age=80)
SPEC.add("warfarin_rxnorm_1_month_ago", None, issued(WARFARIN_RX, months_ago(1)), sex="female", age=80)
SPEC.add("edoxaban_rxnorm_1_month_ago", None, issued(EDOXABAN_RX, months_ago(1)), sex="female", age=80)
SPEC.add("issue_exactly_6_months_ago", None, issued(APIXABAN_DMD, months_ago(6)), sex="female", age=80)
SPEC.add("issue_6_months_and_a_day_ago", LISTED, issued(APIXABAN_DMD, months_ago(6, days=1)), sex="female", age=80)
SPEC.add("issue_entered_in_error", LISTED, issued(APIXABAN_DMD, months_ago(1), "entered-in-error"), sex="female",
         age=80)
SPEC.add("issue_cancelled", LISTED, issued(APIXABAN_DMD, months_ago(1), "cancelled"), sex="female", age=80)
SPEC.add("issue_only_after_as_of", LISTED, issued(APIXABAN_DMD, AS_OF + dt.timedelta(days=1)), sex="female",
         age=80)
SPEC.add("issue_on_as_of", None, issued(APIXABAN_DMD, AS_OF), sex="female", age=80)
SPEC.add("never_anticoagulated", LISTED, with_codes(), sex="female", age=80)


# --- repeat authorisations (CLINICAL_RULES §0): a standing order covers the days it is in force ------
def authorised(start, end=None, status="active"):
    def build(p, pid):
        af(p, pid)
        p.authorisation(pid, WARFARIN_RX, start, end=end, status=status)
    return build


# Synthea's long-term warfarin patient: one active order authored years ago is anticoagulation today
SPEC.add("warfarin_authorised_2018_still_active", None, authorised(dt.date(2018, 6, 1)), sex="female", age=80)
SPEC.add("authorisation_ended_in_window", None,
         authorised(dt.date(2018, 6, 1), end=months_ago(2), status="completed"), sex="female", age=80)
SPEC.add("authorisation_ended_before_window", LISTED,
         authorised(dt.date(2018, 6, 1), end=months_ago(6, days=1), status="completed"), sex="female", age=80)
SPEC.add("authorisation_stopped_undated_2018", LISTED, authorised(dt.date(2018, 6, 1), status="stopped"),
         sex="female", age=80)
SPEC.add("authorisation_cancelled", LISTED, authorised(dt.date(2018, 6, 1), status="cancelled"), sex="female",
         age=80)


# --- the register and exclusions (female 80: score 3) ---------------------------------------------
@case(None, sex="female", age=80)
def palliative(p, pid):
    af(p, pid)
    p.event(pid, PALLIATIVE, months_ago(2), kind="procedure")


@case(None, sex="female", age=80)
def af_resolved_by_code(p, pid):
    af(p, pid)
    p.event(pid, AF_RESOLVED, OLD + dt.timedelta(days=500))


@case(None, sex="female", age=80)
def af_condition_resolved(p, pid):
    af(p, pid)
    p.diagnosis(pid, AF, OLD + dt.timedelta(days=200), status="resolved")


@case(LISTED, sex="female", age=80)
def af_rediagnosed(p, pid):
    af(p, pid)
    p.event(pid, AF_RESOLVED, OLD + dt.timedelta(days=500))
    p.diagnosis(pid, PAROXYSMAL_AF, OLD + dt.timedelta(days=1500))


@case(None, sex="female", age=80)
def af_refuted(p, pid): p.diagnosis(pid, AF, OLD, status="refuted")


@case(None, sex="female", age=80)
def af_after_as_of(p, pid): p.diagnosis(pid, AF, AS_OF + dt.timedelta(days=1))


@case(None, sex="female", age=80)
def no_af(p, pid): p.diagnosis(pid, STROKE, OLD)


SPEC.add("died_before_as_of", None, with_codes(), sex="female", age=80, death_date=AS_OF - dt.timedelta(days=1))
SPEC.add("deregistered", None, with_codes(), sex="female", age=80, registration_end=AS_OF - dt.timedelta(days=1))
SPEC.add("aged_17", None, with_codes(STROKE), sex="female",
         birth_date=born(18, days_after=1))
SPEC.add("eighteenth_birthday_on_as_of", LISTED, with_codes(STROKE), sex="female", birth_date=born(18))



# --- which issue is "the last" (female 80: score 3, nothing in the window) -------------------------
@case(LISTED, sex="female", age=80)
def latest_of_several_old_issues(p, pid):
    af(p, pid)
    p.medication(pid, WARFARIN_RX, months_ago(9))
    p.medication(pid, APIXABAN_DMD, months_ago(7))
    p.medication(pid, WARFARIN_RX, months_ago(8))


@case(LISTED, sex="female", age=80)
def two_old_issues_same_day(p, pid):
    af(p, pid)
    p.medication(pid, WARFARIN_RX, months_ago(8), source_id="MedicationRequest/b")
    p.medication(pid, APIXABAN_DMD, months_ago(8), source_id="MedicationRequest/a")


@case(LISTED, sex="female", age=80)
def dual_coded_old_issue(p, pid):
    af(p, pid)
    p.medication(pid, APIXABAN_DMD, months_ago(8), source_id="MedicationRequest/dual")
    p.medication(pid, APIXABAN_RX, months_ago(8), source_id="MedicationRequest/dual")


@case(None, sex="female", age=80)
def old_issue_and_one_in_window(p, pid):
    af(p, pid)
    p.medication(pid, WARFARIN_RX, months_ago(20))
    p.medication(pid, APIXABAN_DMD, months_ago(5))


# --- palliative boundary (female 80: score 3) -----------------------------------------------------
@case(None, sex="female", age=80)
def palliative_on_as_of(p, pid):
    af(p, pid)
    p.event(pid, PALLIATIVE, AS_OF, kind="procedure")


@case(LISTED, sex="female", age=80)
def palliative_after_as_of(p, pid):
    af(p, pid)
    p.event(pid, PALLIATIVE, AS_OF + dt.timedelta(days=1), kind="procedure")


@case(LISTED, sex="female", age=80)
def palliative_refuted(p, pid):
    af(p, pid)
    p.diagnosis(pid, PALLIATIVE, months_ago(2), status="refuted")


# --- register boundary: a resolution on the diagnosis day wins ------------------------------------
@case(None, sex="female", age=80)
def af_resolved_same_day(p, pid):
    af(p, pid)
    p.event(pid, AF_RESOLVED, OLD)


# --- score boundary from a coded component: 1 point below, at 2 -----------------------------------
SPEC.add("male_diabetes_only", None, with_codes(DIABETES))
SPEC.add("male_diabetes_heart_failure_refuted", None,
         lambda p, pid: (af(p, pid, DIABETES), p.diagnosis(pid, HEART_FAILURE, OLD, status="refuted")))
SPEC.add("male_heart_failure_resolved_diabetes", LISTED,
         lambda p, pid: (af(p, pid, HEART_FAILURE, DIABETES),
                         p.diagnosis(pid, HEART_FAILURE, OLD + dt.timedelta(days=60), status="resolved")))


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


@pytest.mark.parametrize("pid, expected", [
    ("no_af", (False, True, True, True)),                         # on_register fails alone
    ("af_resolved_by_code", (False, True, True, True)),
    ("male_hypertension_only", (True, False, True, True)),        # score_at_least fails alone (1 < 2)
    ("male_75_tomorrow", (True, False, True, True)),
    ("apixaban_3_months_ago", (True, True, False, True)),         # not_anticoagulated fails alone
    ("issue_exactly_6_months_ago", (True, True, False, True)),
    ("palliative", (True, True, True, False)),                    # not_palliative fails alone
    ("palliative_on_as_of", (True, True, True, False)),
    ("issue_6_months_and_a_day_ago", (True, True, True, True)),
])
def test_each_criterion_failing_alone(evaluated, pid, expected):
    assert [c.name for c in COHORT.criteria] == ["on_register", "score_at_least", "not_anticoagulated",
                                                 "not_palliative"]
    assert tuple(evaluated[pid][c.name] for c in COHORT.criteria) == expected
    assert evaluated[pid]["member"] is all(expected)


def test_ineligible_patients_are_not_evaluated(evaluated):
    for pid in ("aged_17", "deregistered", "died_before_as_of"):
        assert pid not in evaluated


def test_score_and_age_columns_for_ranking(listed):
    assert COHORT.rank == (("cha2ds2_vasc", True), ("age", True))
    assert (listed["female_85_everything"]["cha2ds2_vasc"], listed["female_85_everything"]["age"]) == (9, 85)
    assert (listed["male_75_today"]["cha2ds2_vasc"], listed["male_75_today"]["age"]) == (2, 75)
    assert listed["male_65_today_hypertension"]["cha2ds2_vasc_factors"] == "hypertension: 1, age 65: 1"
    assert listed["male_75_today"]["af_coded"] == OLD


def test_reason_quotes_register_score_and_anticoagulation(listed):
    reason = listed["never_anticoagulated"]["reason"]
    assert reason == ("On the AF register (AF coded 2016-03-01); CHA2DS2-VASc 3 (age 80: 2, female: 1); "
                      "no oral anticoagulant on record.")
    stopped = listed["issue_6_months_and_a_day_ago"]["reason"]
    assert stopped.endswith(f"last oral anticoagulant Apixaban 5mg tablets issued on "
                            f"{months_ago(6, days=1).isoformat()}, none since {months_ago(6).isoformat()}.")
    assert "AF coded 2020-04-09" in listed["af_rediagnosed"]["reason"]
    ended = listed["authorisation_ended_before_window"]["reason"]
    assert ended.endswith(f"last oral anticoagulant Warfarin Sodium 5 MG Oral Tablet repeat authorised "
                          f"2018-06-01 to {months_ago(6, days=1).isoformat()}, none since {months_ago(6).isoformat()}.")
    # an issue after the run date is not "the last"
    assert listed["issue_only_after_as_of"]["reason"].endswith("; no oral anticoagulant on record.")
    assert listed["female_85_everything"]["reason"] == (
        "On the AF register (AF coded 2016-03-01); CHA2DS2-VASc 9 (heart failure: 1, hypertension: 1, "
        "age 85: 2, diabetes: 1, stroke/TIA/thromboembolism: 2, vascular disease: 1, female: 1); no oral anticoagulant "
        "on record.")


def test_the_latest_issue_is_quoted(listed):
    def last(pid):
        row = listed[pid]
        return row["last_anticoagulant"], row["last_anticoagulant_date"]
    assert last("latest_of_several_old_issues") == ("Apixaban 5mg tablets", months_ago(7))
    assert last("two_old_issues_same_day") == ("Apixaban 5mg tablets", months_ago(8))      # source_id a before b
    assert last("dual_coded_old_issue") == ("apixaban 5 MG Oral Tablet", months_ago(8))   # code 1364445 first
    assert json.loads(listed["dual_coded_old_issue"]["evidence"])["last_anticoagulant_code"] == "1364445"


def test_evidence_is_json_with_components(listed):
    ev = json.loads(listed["male_pad_diabetes"]["evidence"])
    assert (ev["cha2ds2_vasc"], ev["vascular_points"], ev["diabetes_points"], ev["af_coded"]) == (2, 1, 1, "2016-03-01")
    assert ev["vascular_date"] == (OLD + dt.timedelta(days=30)).isoformat()


def test_evidence_field_order(listed):
    never = json.loads(listed["never_anticoagulated"]["evidence"])
    assert list(never) == ["af_coded", "age", "cha2ds2_vasc", "chf_points", "hypertension_points", "age_points",
                           "diabetes_points", "stroke_points", "vascular_points", "female_points",
                           "anticoagulant_window_start"]
    stopped = json.loads(listed["issue_6_months_and_a_day_ago"]["evidence"])
    assert list(stopped)[-4:] == ["last_anticoagulant", "last_anticoagulant_code", "last_anticoagulant_date",
                                  "anticoagulant_window_start"]
    assert stopped["last_anticoagulant_date"] == months_ago(6, days=1).isoformat()
    everything = json.loads(listed["female_85_everything"]["evidence"])
    assert list(everything)[10:15] == ["chf_date", "hypertension_date", "diabetes_date", "stroke_date",
                                       "vascular_date"]


ORDER = Spec("af_anticoagulation.order", COHORT)
for _pid, _sex, _age, _codes in (  # added in an order that is not the answer
        ("w_m75", "male", 75, ()),
        ("w_f80_tie_b", "female", 80, ()),
        ("w_f90", "female", 90, ()),
        ("w_f80_tie_a", "female", 80, ()),
        ("w_m60_stroke", "male", 60, (STROKE,)),
        ("w_f85_all", "female", 85, (HEART_FAILURE, HYPERTENSION, DIABETES, STROKE, MI)),
        ("w_m60_none", "male", 60, ())):
    ORDER.add(_pid, None, with_codes(*_codes), sex=_sex, age=_age)
ORDER.add("w_f80_tie_b_born_earlier", None, with_codes(), sex="female",
          birth_date=born(81, days_after=1))                              # 80 today, a year older than the others


def test_worklist_order_score_then_age_then_patient_id(spec_record):
    wl = ORDER.worklist(spec_record).worklist
    got = list(zip(wl["patient_id"], wl["rank"], wl["cha2ds2_vasc"], wl["age"]))
    expected = [("w_f85_all", 9, 85), ("w_f90", 3, 90), ("w_f80_tie_a", 3, 80), ("w_f80_tie_b", 3, 80),
                ("w_f80_tie_b_born_earlier", 3, 80), ("w_m75", 2, 75), ("w_m60_stroke", 2, 60)]
    assert [(p, s, a) for p, _, s, a in got] == expected
    assert list(wl["rank"]) == list(range(1, len(expected) + 1))
    assert set(wl["band"]) == {LISTED}


def test_threshold_and_window_are_parameters(spec_record):
    chosen = ("male_75_today", "male_stroke", "female_85_everything", "apixaban_3_months_ago")
    rows = SPEC.listed(spec_record, overrides={"min_score": 3, "anticoagulant_window_months": 2})
    assert {pid for pid in rows if pid in chosen} == {"female_85_everything", "apixaban_3_months_ago"}


def test_unknown_or_mistyped_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter 'min_cha2ds2_vasc'"):
        COHORT.params({"min_cha2ds2_vasc": 3})
    with pytest.raises(ConfigError, match="must be a whole number"):
        COHORT.params({"min_score": "two"})
    with pytest.raises(ConfigError, match="must be a whole number"):
        COHORT.params({"min_score": 10})


def test_explain_shows_current_values():
    text = COHORT.explain({"min_score": 3})
    assert "CHA2DS2-VASc ≥ 3" in text and "min_score = 3" in text


def test_conf_file_holds_the_clinical_values():
    clinical_values(COHORT, {
        "min_age": (18, "age ≥ 18 unless a rule says otherwise"),
        "min_score": (2, "on the AF register, CHA2DS2-VASc ≥ 2"),
        "anticoagulant_window_months": (6, "dabigatran) issued in 6 months, not palliative"),
    })
    assert set(COHORT.params()) == set(COHORT.parameters)
