"""Spec tests for CLINICAL_RULES §6, possible undiagnosed heart failure: one tiny patient per rule.

NT-proBNP values are ng/L as the engine sees them (ingest converts pg/mL and quarantines unknown units).
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import AS_OF, months_ago
from engine.cohorts.heart_failure import COHORT
from engine.codes import LOINC, RXNORM, SNOMED
from engine.config import ConfigError
from spec import Spec, clinical_values

URGENT, SOON, LOOP = ("urgent — specialist and echo within 2 weeks", "specialist and echo within 6 weeks",
                      "loop diuretic without heart failure diagnosis")
NTPROBNP, NTPROBNP_LOINC = (SNOMED, "414799001"), (LOINC, "33762-6")
ECHO, CARDIOLOGY = (SNOMED, "40701008"), (SNOMED, "183519002")
HF = (SNOMED, "84114007")
FUROSEMIDE, FUROSEMIDE_RX = (SNOMED, "317972000"), (RXNORM, "313988")
BUMETANIDE_RX, TORASEMIDE = (RXNORM, "197418"), (SNOMED, "318041004")
TEST_DAY = months_ago(4)

# patient id → expected band (None = must not be listed), with the record that earns it.
SPEC = Spec("heart_failure", COHORT, age=70)
case = SPEC.case


def result(p, pid, value, day=TEST_DAY, coding=NTPROBNP, **kw):
    """An NT-proBNP result (ng/L) on ``day``."""
    p.event(pid, coding, day, value, **kw)


# --- NT-proBNP thresholds ----------------------------------------------------------------------------
@case(URGENT)
def ntprobnp_2001(p, pid): result(p, pid, 2001)
@case(SOON)
def ntprobnp_2000(p, pid): result(p, pid, 2000)
@case(SOON)
def ntprobnp_401(p, pid): result(p, pid, 401)
@case(None)
def ntprobnp_400(p, pid): result(p, pid, 400)
@case(SOON)
def ntprobnp_loinc_coded(p, pid): result(p, pid, 950, coding=NTPROBNP_LOINC)


# --- which test counts --------------------------------------------------------------------------------
@case(None)
def raised_then_normal(p, pid):
    result(p, pid, 1500, day=months_ago(10))
    result(p, pid, 300)


@case(SOON)
def normal_then_raised(p, pid):
    result(p, pid, 300, day=months_ago(10))
    result(p, pid, 800)


@case(SOON)
def two_results_one_day_highest_counts(p, pid):
    result(p, pid, 350)
    result(p, pid, 450)


@case(SOON)
def result_exactly_24_months_ago(p, pid): result(p, pid, 900, day=months_ago(24))
@case(None)
def result_24_months_and_a_day_ago(p, pid): result(p, pid, 900, day=months_ago(24, days=1))
@case(None)
def result_after_as_of(p, pid): result(p, pid, 2500, day=AS_OF + dt.timedelta(days=1))
@case(None)
def result_entered_in_error(p, pid): result(p, pid, 2500, status="entered-in-error")


# --- actioned: echo or cardiology referral on or after the test ---------------------------------------
@case(None)
def echo_after(p, pid):
    result(p, pid, 2500)
    p.event(pid, ECHO, TEST_DAY + dt.timedelta(days=20), kind="procedure")


@case(None)
def echo_same_day(p, pid):
    result(p, pid, 900)
    p.event(pid, ECHO, TEST_DAY, kind="procedure")


@case(SOON)
def echo_day_before(p, pid):
    result(p, pid, 900)
    p.event(pid, ECHO, TEST_DAY - dt.timedelta(days=1), kind="procedure")


@case(SOON)
def echo_not_done(p, pid):
    result(p, pid, 900)
    p.event(pid, ECHO, TEST_DAY + dt.timedelta(days=5), kind="procedure", status="refuted")


@case(URGENT)
def echo_after_as_of(p, pid):
    result(p, pid, 2500)
    p.event(pid, ECHO, AS_OF + dt.timedelta(days=1), kind="procedure")


@case(None)
def cardiology_referral_after(p, pid):
    result(p, pid, 2500)
    p.referral(pid, CARDIOLOGY, TEST_DAY + dt.timedelta(days=3))


@case(None)
def cardiology_referral_recorded_as_procedure(p, pid):
    result(p, pid, 2500)
    p.event(pid, CARDIOLOGY, TEST_DAY + dt.timedelta(days=3), kind="procedure")


@case(URGENT)
def cardiology_referral_before(p, pid):
    result(p, pid, 2500)
    p.referral(pid, CARDIOLOGY, TEST_DAY - dt.timedelta(days=30))


@case(URGENT)
def cardiology_referral_cancelled(p, pid):
    result(p, pid, 2500)
    p.referral(pid, CARDIOLOGY, TEST_DAY + dt.timedelta(days=3), status="cancelled")


@case(LOOP)
def same_day_echo_and_referral_with_loop_diuretic(p, pid):
    # one day, two follow-ups: the reason names the first in min(struct(date, what)) order
    result(p, pid, 900)
    p.event(pid, ECHO, TEST_DAY + dt.timedelta(days=7), kind="procedure")
    p.referral(pid, CARDIOLOGY, TEST_DAY + dt.timedelta(days=7))
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(2))


@case(LOOP)
def earliest_follow_up_with_loop_diuretic(p, pid):
    result(p, pid, 900)
    p.referral(pid, CARDIOLOGY, TEST_DAY + dt.timedelta(days=30))
    p.event(pid, ECHO, TEST_DAY + dt.timedelta(days=5), kind="procedure")
    p.event(pid, ECHO, TEST_DAY - dt.timedelta(days=5), kind="procedure")
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(2))


@case(URGENT)
def cardiology_referral_entered_in_error(p, pid):
    result(p, pid, 2500)
    p.referral(pid, CARDIOLOGY, TEST_DAY + dt.timedelta(days=3), status="entered-in-error")


# --- heart failure register --------------------------------------------------------------------------
@case(None)
def on_register(p, pid):
    p.diagnosis(pid, HF, dt.date(2020, 1, 1))
    result(p, pid, 2500)


@case(URGENT)
def hf_since_resolved(p, pid):
    p.diagnosis(pid, HF, dt.date(2018, 1, 1))
    p.diagnosis(pid, HF, dt.date(2019, 1, 1), status="resolved")
    result(p, pid, 2500)


@case(URGENT)
def hf_refuted(p, pid):
    p.diagnosis(pid, HF, dt.date(2020, 1, 1), status="refuted")
    result(p, pid, 2500)


@case(URGENT)
def hf_code_after_as_of(p, pid):
    p.diagnosis(pid, HF, AS_OF + dt.timedelta(days=1))
    result(p, pid, 2500)


# --- loop diuretics ------------------------------------------------------------------------------------
@case(LOOP)
def two_furosemide_issues(p, pid):
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(2))


@case(None)
def one_furosemide_issue(p, pid): p.medication(pid, FUROSEMIDE, months_ago(1))


@case(LOOP)
def second_issue_exactly_6_months_ago(p, pid):
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(6))


@case(None)
def second_issue_6_months_and_a_day_ago(p, pid):
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(6, days=1))


@case(LOOP)
def rxnorm_bumetanide(p, pid):
    p.medication(pid, BUMETANIDE_RX, months_ago(1))
    p.medication(pid, BUMETANIDE_RX, months_ago(3))


@case(LOOP)
def furosemide_and_torasemide(p, pid):
    p.medication(pid, FUROSEMIDE_RX, months_ago(1))
    p.medication(pid, TORASEMIDE, months_ago(3))


@case(None)
def cancelled_issue_not_counted(p, pid):
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(2), status="cancelled")


@case(None)
def dual_coded_issue_counts_once(p, pid):
    p.medication(pid, FUROSEMIDE, months_ago(1), source_id="MedicationRequest/dual")
    p.medication(pid, FUROSEMIDE_RX, months_ago(1), source_id="MedicationRequest/dual")


@case(None)
def issue_after_as_of_not_counted(p, pid):
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, AS_OF + dt.timedelta(days=1))


@case(None)
def loop_diuretic_with_hf_diagnosis(p, pid):
    p.diagnosis(pid, HF, dt.date(2021, 6, 1))
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(2))


# repeat authorisations (CLINICAL_RULES §0): a standing order implies an issue per started 28 days
@case(LOOP)
def furosemide_standing_order_in_force(p, pid): p.authorisation(pid, FUROSEMIDE_RX, dt.date(2022, 3, 1))


@case(LOOP)
def furosemide_authorisation_ended_29_days_into_window(p, pid):
    p.authorisation(pid, FUROSEMIDE, dt.date(2022, 3, 1), end=months_ago(6) + dt.timedelta(days=28),
                    status="completed")


@case(None)
def furosemide_authorisation_ended_28_days_into_window(p, pid):
    p.authorisation(pid, FUROSEMIDE, dt.date(2022, 3, 1), end=months_ago(6) + dt.timedelta(days=27),
                    status="completed")


@case(None)
def furosemide_authorisation_ended_before_window(p, pid):
    p.authorisation(pid, FUROSEMIDE, dt.date(2022, 3, 1), end=months_ago(7), status="completed")


@case(None)
def furosemide_standing_order_with_resolved_hf(p, pid):
    p.diagnosis(pid, HF, dt.date(2020, 1, 1))
    p.diagnosis(pid, HF, dt.date(2021, 1, 1), status="resolved")
    p.authorisation(pid, FUROSEMIDE_RX, dt.date(2022, 3, 1))


@case(URGENT)
def urgent_test_outranks_loop_diuretic(p, pid):
    result(p, pid, 3000)
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(2))


@case(LOOP)
def actioned_test_with_loop_diuretic(p, pid):
    result(p, pid, 3000)
    p.event(pid, ECHO, TEST_DAY + dt.timedelta(days=10), kind="procedure")
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(2))


@case(LOOP)
def normal_test_with_loop_diuretic(p, pid):
    result(p, pid, 250)
    p.medication(pid, BUMETANIDE_RX, months_ago(1))
    p.medication(pid, BUMETANIDE_RX, months_ago(2))


# --- eligibility -----------------------------------------------------------------------------------------
@case(None, death_date=AS_OF - dt.timedelta(days=1))
def died(p, pid): result(p, pid, 2500)
@case(None, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
def aged_17(p, pid): result(p, pid, 2500)
@case(URGENT, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day))
def eighteenth_birthday_on_as_of(p, pid): result(p, pid, 2500)
@case(URGENT, registration_start=None)
def no_registration_data(p, pid): result(p, pid, 2500)


@pytest.fixture(scope="module")
def considered(spec_record):
    return SPEC.evaluated(spec_record)


@pytest.fixture(scope="module")
def listed(considered):
    return {pid: row for pid, row in considered.items() if row["member"]}


@pytest.mark.parametrize("pid", list(SPEC.cases))
def test_rule(listed, pid):
    expected = SPEC.cases[pid].expected
    got = listed.get(pid, {}).get("band")
    assert got == expected, f"{pid}: expected {expected!r}, got {got!r}"


def test_attrition_flags(considered):
    assert considered["on_register"]["not_on_register"] is False
    assert considered["hf_since_resolved"]["not_on_register"] is True
    assert considered["echo_after"]["not_on_register"] is True
    assert considered["echo_after"]["raised_ntprobnp_unactioned_or_loop_diuretic"] is False


def flags(row) -> tuple:
    return tuple(row[c.name] for c in COHORT.criteria)


def test_each_criterion_failing_alone(considered):
    assert [c.name for c in COHORT.criteria] == ["not_on_register", "raised_ntprobnp_unactioned_or_loop_diuretic"]
    assert flags(considered["on_register"]) == (False, True)
    # the loop-diuretic route itself needs no heart failure code ever (§6), so a diagnosed patient fails both
    assert flags(considered["loop_diuretic_with_hf_diagnosis"]) == (False, False)
    assert flags(considered["echo_after"]) == (True, False)
    assert flags(considered["ntprobnp_400"]) == (True, False)
    assert flags(considered["one_furosemide_issue"]) == (True, False)
    assert not any(considered[p]["member"] for p in ("on_register", "echo_after", "one_furosemide_issue"))


def test_reason_quotes_the_test_and_what_is_missing(listed):
    row = listed["ntprobnp_2001"]
    days = (AS_OF - TEST_DAY).days
    assert row["reason"] == (f"NT-proBNP 2001 ng/L on {TEST_DAY.isoformat()} (> 2000 ng/L, {days} days ago) with no "
                             "echocardiogram or cardiology referral since; no heart failure diagnosis.")
    assert row["days_since_test"] == days
    assert "(> 400 ng/L," in listed["ntprobnp_401"]["reason"]
    assert "last heart failure code 2018-01-01, since resolved" in listed["hf_since_resolved"]["reason"]


def test_reason_for_loop_diuretic_band(listed):
    reason = listed["two_furosemide_issues"]["reason"]
    assert reason.startswith(f"2 loop-diuretic issues (furosemide) since {months_ago(6).isoformat()}, "
                             f"latest issued on {months_ago(1).isoformat()}; no NT-proBNP since")
    assert reason.endswith("; no heart failure diagnosis.")
    assert "(bumetanide)" in listed["rxnorm_bumetanide"]["reason"]
    assert "(furosemide, torasemide)" in listed["furosemide_and_torasemide"]["reason"]
    assert listed["furosemide_standing_order_in_force"]["reason"].startswith(
        f"7 loop-diuretic issues (furosemide) since {months_ago(6).isoformat()}, latest repeat authorised since "
        "2022-03-01, still active; ")
    actioned = listed["actioned_test_with_loop_diuretic"]["reason"]
    assert f"NT-proBNP 3000 ng/L on {TEST_DAY.isoformat()} was followed by echocardiogram on" in actioned
    assert "(not above 400 ng/L)" in listed["normal_test_with_loop_diuretic"]["reason"]
    assert "2 loop-diuretic issues" in listed["urgent_test_outranks_loop_diuretic"]["reason"]
    same_day = (TEST_DAY + dt.timedelta(days=7)).isoformat()
    assert f"was followed by cardiology referral on {same_day};" in \
        listed["same_day_echo_and_referral_with_loop_diuretic"]["reason"]
    earliest = (TEST_DAY + dt.timedelta(days=5)).isoformat()
    assert f"was followed by echocardiogram on {earliest};" in listed["earliest_follow_up_with_loop_diuretic"]["reason"]


def test_whole_reason_and_evidence(listed):
    row = listed["actioned_test_with_loop_diuretic"]
    since, echo = months_ago(6).isoformat(), (TEST_DAY + dt.timedelta(days=10)).isoformat()
    assert row["reason"] == (
        f"2 loop-diuretic issues (furosemide) since {since}, latest issued on {months_ago(1).isoformat()}; NT-proBNP "
        "3000 "
        f"ng/L on {TEST_DAY.isoformat()} was followed by echocardiogram on {echo}; no heart failure diagnosis.")
    assert row["evidence"] == (
        f'{{"ntprobnp":3000.0,"ntprobnp_date":"{TEST_DAY.isoformat()}","ntprobnp_unit":"ng/L",'
        f'"ntprobnp_window_start":"{months_ago(24).isoformat()}","followed_up_on":"{echo}",'
        '"followed_up_by":"echocardiogram","loop_diuretic_issues":2,"loop_diuretics":"furosemide",'
        f'"loop_diuretic_first":"{months_ago(2).isoformat()}","loop_diuretic_last":"{months_ago(1).isoformat()}",'
        f'"loop_diuretic_window_start":"{since}"}}')
    # no loop-diuretic issue in the window: the evidence leaves the count out, the worklist shows 0
    row = listed["ntprobnp_2001"]
    assert "loop_diuretic_issues" not in json.loads(row["evidence"]) and row["loop_diuretic_issues"] == 0
    urgent = listed["urgent_test_outranks_loop_diuretic"]["reason"]
    assert urgent == (
        f"NT-proBNP 3000 ng/L on {TEST_DAY.isoformat()} (> 2000 ng/L, {(AS_OF - TEST_DAY).days} days ago) with no "
        f"echocardiogram or cardiology referral since; 2 loop-diuretic issues (furosemide) since {since}, latest "
        f"issued on {months_ago(1).isoformat()}; no heart failure diagnosis.")


def test_evidence_is_json(listed):
    ev = json.loads(listed["cardiology_referral_before"]["evidence"])
    assert (ev["ntprobnp"], ev["ntprobnp_date"], ev["ntprobnp_unit"], ev.get("followed_up_on")) == \
        (2500, TEST_DAY.isoformat(), "ng/L", None)
    ev = json.loads(listed["actioned_test_with_loop_diuretic"]["evidence"])
    assert (ev["followed_up_by"], ev["loop_diuretic_issues"], ev["loop_diuretics"]) == ("echocardiogram", 2, "furosemide")


def test_thresholds_are_parameters(spec_record):
    chosen = ("ntprobnp_400", "ntprobnp_2000", "one_furosemide_issue", "second_issue_6_months_and_a_day_ago")
    rows = SPEC.listed(spec_record, overrides={"ntprobnp_raised_above": 350, "ntprobnp_urgent_above": 1999,
                                               "loop_diuretic_min_issues": 1, "loop_diuretic_months": 7})
    got = {pid: r["band"] for pid, r in rows.items() if pid in chosen}
    assert got == {"ntprobnp_400": SOON, "ntprobnp_2000": URGENT, "one_furosemide_issue": LOOP,
                   "second_issue_6_months_and_a_day_ago": LOOP}


def test_unknown_or_mistyped_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter 'ntprobnp_above'"):
        COHORT.params({"ntprobnp_above": 500})
    with pytest.raises(ConfigError, match="must be a number"):
        COHORT.params({"ntprobnp_urgent_above": "high"})


def test_explain_shows_current_values():
    text = COHORT.explain({"ntprobnp_urgent_above": 1500})
    assert "when above 1500 ng/L" in text and "ntprobnp_urgent_above = 1500" in text


def _resolved_hf_on_loop(p, pid):
    p.diagnosis(pid, HF, dt.date(2018, 1, 1))
    p.diagnosis(pid, HF, dt.date(2019, 1, 1), status="resolved")
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(2))


def _never_hf_on_loop(p, pid):      # the same issues, no heart failure code: listed
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(2))


NO_HF_CODE = Spec("heart_failure.no_hf_code", COHORT, age=70)
NO_HF_CODE.add("resolved_hf_on_loop", None, _resolved_hf_on_loop)
NO_HF_CODE.add("never_hf_on_loop", None, _never_hf_on_loop)


def test_loop_diuretic_band_needs_no_hf_code_ever(spec_record):
    assert list(NO_HF_CODE.listed(spec_record)) == ["never_hf_on_loop"]


# --- the worklist: ranked per PCN by band, NT-proBNP (desc), days since the test (desc), patient_id --
def loop(p, pid):
    p.medication(pid, FUROSEMIDE, months_ago(1))
    p.medication(pid, FUROSEMIDE, months_ago(2))


ORDER = Spec("heart_failure.order", COHORT, age=70)    # declared out of order: the rank must not be the order
ORDER.add("l_none_b", None, loop)
ORDER.add("s_tie_b", None, lambda p, pid: result(p, pid, 900))
ORDER.add("u_3000_recent", None, lambda p, pid: result(p, pid, 3000, day=months_ago(2)))
ORDER.add("l_actioned_5000", None, lambda p, pid: (result(p, pid, 5000), loop(p, pid),
                                                   p.event(pid, ECHO, TEST_DAY, kind="procedure")))
ORDER.add("s_1500", None, lambda p, pid: result(p, pid, 1500, day=months_ago(1)))
ORDER.add("u_2500", None, lambda p, pid: result(p, pid, 2500, day=months_ago(20)))
ORDER.add("s_tie_a", None, lambda p, pid: result(p, pid, 900))
ORDER.add("l_none_a", None, loop)
ORDER.add("u_3000_old", None, lambda p, pid: result(p, pid, 3000, day=months_ago(10)))
ORDER.add("z_other_pcn", None, lambda p, pid: result(p, pid, 450), practice="B20002")
ORDER.add("x_on_register", None, lambda p, pid: (result(p, pid, 9000), p.diagnosis(pid, HF, dt.date(2020, 1, 1))))


def test_worklist_order(spec_record):
    df = ORDER.worklist(spec_record).worklist
    # the shared record orders PCNs by their prefixed ids (UNASSIGNED first): compare in the test's PCN
    # order, each PCN's rows as the worklist ordered them
    got = sorted([(r["pcn_id"], r["rank"], r["patient_id"], r["band"]) for r in df.to_dict("records")],
                 key=lambda row: row[0])
    assert got == [
        ("U00001", 1, "u_3000_old", URGENT),        # same NT-proBNP: the older test first
        ("U00001", 2, "u_3000_recent", URGENT),
        ("U00001", 3, "u_2500", URGENT),
        ("U00001", 4, "s_1500", SOON),
        ("U00001", 5, "s_tie_a", SOON),             # same value, same day: patient_id
        ("U00001", 6, "s_tie_b", SOON),
        ("U00001", 7, "l_actioned_5000", LOOP),     # band before NT-proBNP
        ("U00001", 8, "l_none_a", LOOP),            # no test ranks last, then patient_id
        ("U00001", 9, "l_none_b", LOOP),
        ("UNASSIGNED", 1, "z_other_pcn", SOON),
    ]


# --- the YAML holds the clinical values ------------------------------------------------------------
CLINICAL_VALUES = {       # yaml key → (value, a quote from CLINICAL_RULES.md stating it)
    "min_age": (18, "age ≥ 18 unless a rule says otherwise"),
    "ntprobnp_window_months": (24, "latest NT-proBNP in 24 months"),
    "ntprobnp_raised_above": (400, "is > 400 ng/L with no echocardiogram or cardiology referral on or after it"),
    "ntprobnp_urgent_above": (2000, "specialist and echo within 2 weeks\" when > 2000"),
    "loop_diuretic_months": (6, "≥ 2 loop-diuretic issues in 6 months"),
    "loop_diuretic_min_issues": (2, "≥ 2 loop-diuretic issues in 6 months"),
}


def test_clinical_values_match_clinical_rules():
    clinical_values(COHORT, CLINICAL_VALUES)
