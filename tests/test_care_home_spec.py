"""Spec tests for CLINICAL_RULES §2, care-home residents: one tiny patient per rule, one answer each."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import AS_OF, PALLIATIVE, Population, months_ago
from engine.codes import SNOMED
from engine.cohorts.care_home import COHORT, residents
from engine.codelists import load_codelist
from engine.config import ConfigError
from engine.features.efi import DEFICITS as EFI_DEFICITS

NURSING, RESIDENTIAL = (SNOMED, "160734000"), (SNOMED, "394923006")
CARE_HOME, OLD_PEOPLES_HOME = (SNOMED, "248171000000108"), (SNOMED, "160737007")
OWN_HOME, HOUSE = (SNOMED, "160943002"), (SNOMED, "242711000000100")
VISIT, SEEN_IN_NURSING_HOME = (SNOMED, "889311000000109"), (SNOMED, "185218006")
SMR, EMERGENCY_CODE = (SNOMED, "1239511000000100"), (SNOMED, "50849002")

B1, B2 = "no SMR in 12 months", "SMR in the last 12 months"
MOVED_IN = dt.date(2023, 6, 1)

CASES: dict = {}


def case(expected):
    def register(build):
        CASES[build.__name__] = (expected, build)
        return build
    return register


# --- residence codes ------------------------------------------------------------------------------
@case(B1)
def nursing_code(p, pid): p.event(pid, NURSING, MOVED_IN)
@case(B1)
def residential_code(p, pid): p.event(pid, RESIDENTIAL, MOVED_IN)
@case(B1)
def care_home_code(p, pid): p.event(pid, CARE_HOME, MOVED_IN)
@case(B1)
def old_peoples_home_code(p, pid): p.event(pid, OLD_PEOPLES_HOME, MOVED_IN)
@case(B1)
def code_on_as_of(p, pid): p.event(pid, NURSING, AS_OF)
@case(None)
def code_after_as_of(p, pid): p.event(pid, NURSING, AS_OF + dt.timedelta(days=1))
@case(None)
def code_entered_in_error(p, pid): p.event(pid, NURSING, MOVED_IN, status="entered-in-error")
@case(None)
def code_refuted(p, pid): p.event(pid, RESIDENTIAL, MOVED_IN, status="refuted", kind="condition")
@case(None)
def no_residence_record(p, pid): p.event(pid, PALLIATIVE, MOVED_IN)


# --- the latest residence-type code decides -------------------------------------------------------
@case(None)
def own_home_after_care_home(p, pid):
    p.event(pid, NURSING, MOVED_IN)
    p.event(pid, OWN_HOME, MOVED_IN + dt.timedelta(days=1))


@case(B1)
def care_home_after_own_home(p, pid):
    p.event(pid, HOUSE, MOVED_IN - dt.timedelta(days=1))
    p.event(pid, RESIDENTIAL, MOVED_IN)


@case(B1)
def care_home_and_own_home_same_day(p, pid):
    p.event(pid, OWN_HOME, MOVED_IN)
    p.event(pid, CARE_HOME, MOVED_IN)


@case(B1)
def refuted_own_home_code_ignored(p, pid):
    p.event(pid, NURSING, MOVED_IN)
    p.event(pid, OWN_HOME, MOVED_IN + dt.timedelta(days=30), status="refuted")


@case(B1)
def own_home_code_after_as_of_ignored(p, pid):
    p.event(pid, NURSING, MOVED_IN)
    p.event(pid, OWN_HOME, AS_OF + dt.timedelta(days=1))


# --- the address flag ----------------------------------------------------------------------------
@case(B1)
def address_flag_only(p, pid): pass
@case(B1)
def address_flag_and_code(p, pid): p.event(pid, NURSING, MOVED_IN)


@case(B1)
def address_flag_with_later_own_home_code(p, pid):
    p.event(pid, RESIDENTIAL, MOVED_IN)
    p.event(pid, OWN_HOME, MOVED_IN + dt.timedelta(days=100))


# --- supporting evidence never makes a resident ---------------------------------------------------
@case(None)
def visit_encounter_only(p, pid): p.encounter(pid, months_ago(2), "home", VISIT)
@case(None)
def seen_in_nursing_home_event_only(p, pid): p.event(pid, SEEN_IN_NURSING_HOME, months_ago(2), kind="procedure")


@case(B1)
def resident_with_visit(p, pid):
    p.event(pid, NURSING, MOVED_IN)
    p.encounter(pid, months_ago(2), "home", VISIT)
    p.event(pid, SEEN_IN_NURSING_HOME, months_ago(5), kind="procedure")


# --- SMR band ------------------------------------------------------------------------------------
def resident(p, pid): p.event(pid, NURSING, MOVED_IN)


@case(B2)
def smr_6_months_ago(p, pid):
    resident(p, pid)
    p.event(pid, SMR, months_ago(6), kind="procedure")


@case(B2)
def smr_exactly_12_months_ago(p, pid):
    resident(p, pid)
    p.event(pid, SMR, months_ago(12), kind="procedure")


@case(B1)
def smr_12_months_and_a_day_ago(p, pid):
    resident(p, pid)
    p.event(pid, SMR, months_ago(12, days=1), kind="procedure")


@case(B1)
def smr_after_as_of(p, pid):
    resident(p, pid)
    p.event(pid, SMR, AS_OF + dt.timedelta(days=1), kind="procedure")


@case(B1)
def smr_entered_in_error(p, pid):
    resident(p, pid)
    p.event(pid, SMR, months_ago(2), status="entered-in-error", kind="procedure")


# --- emergency admissions (rank) ------------------------------------------------------------------
@case(B1)
def two_admissions(p, pid):
    resident(p, pid)
    p.encounter(pid, months_ago(2), "emergency")
    p.encounter(pid, months_ago(7), "emergency")
    p.event(pid, EMERGENCY_CODE, months_ago(7))                 # the same admission, coded: one day counts once
    p.encounter(pid, months_ago(4), "ambulatory")               # not an emergency
    p.encounter(pid, months_ago(20), "emergency")               # outside the window


@case(B1)
def admission_window_edges(p, pid):
    resident(p, pid)
    p.encounter(pid, months_ago(12), "emergency")               # counts
    p.encounter(pid, months_ago(12, days=1), "emergency")       # one day too old
    p.event(pid, EMERGENCY_CODE, months_ago(3))                 # an admission recorded only as a code


# --- eFI (rank) -----------------------------------------------------------------------------------
def efi_deficits(p, pid, k, day=dt.date(2016, 3, 1)):
    """k eFI deficits (the first k coded ones other than requirement for care), one code each."""
    lists = [c for _, c, windowed in EFI_DEFICITS if not windowed and c != "efi_care_requirement"][:k]
    for codelist in lists:
        row = load_codelist(codelist).rows[0]
        p.event(pid, (row["system"], row["code"]), day, kind="condition")


@case(B1)
def frail_resident(p, pid):                                     # care requirement (nursing home) + 13 = 14/36
    resident(p, pid)
    efi_deficits(p, pid, 13)


@case(B1)
def mildly_frail_resident_with_refuted_code(p, pid):            # care requirement + 4 = 5/36; refuted ignored
    resident(p, pid)
    efi_deficits(p, pid, 4)
    p.event(pid, (SNOMED, "52448006"), dt.date(2020, 1, 1), status="refuted", kind="condition")


# --- eligibility ----------------------------------------------------------------------------------
@case(B1)
def palliative_resident_still_listed(p, pid):
    resident(p, pid)
    p.event(pid, PALLIATIVE, months_ago(3))


@case(None)
def died_before_as_of(p, pid): resident(p, pid)
@case(None)
def deregistered(p, pid): resident(p, pid)
@case(None)
def aged_17(p, pid): resident(p, pid)
@case(B1)
def eighteenth_birthday_on_as_of(p, pid): resident(p, pid)


FLAGGED = ("address_flag_only", "address_flag_and_code", "address_flag_with_later_own_home_code")
PATIENT_ATTRS = {
    **{pid: dict(address_care_home=True) for pid in FLAGGED},
    "died_before_as_of": dict(death_date=AS_OF - dt.timedelta(days=1)),
    "deregistered": dict(registration_end=AS_OF - dt.timedelta(days=1)),
    "aged_17": dict(birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day) + dt.timedelta(days=1)),
    "eighteenth_birthday_on_as_of": dict(birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day)),
}


def build(cases=CASES):
    pop = Population()
    for pid, (_, builder) in cases.items():
        pop.patient(pid, age=86, **PATIENT_ATTRS.get(pid, {}))
        builder(pop, pid)
    return pop


@pytest.fixture(scope="module")
def record(spark):
    return build().record(spark)


@pytest.fixture(scope="module")
def listed(record):
    rows = COHORT.evaluate(record, AS_OF).where("member").collect()
    return {r["patient_id"]: r.asDict() for r in rows}


@pytest.mark.parametrize("pid", list(CASES))
def test_rule(listed, pid):
    expected = CASES[pid][0]
    got = listed.get(pid, {}).get("band")
    assert got == expected, f"{pid}: expected {expected!r}, got {got!r}"


def test_band_order(listed):
    assert listed["nursing_code"]["band_order"] == 1 and listed["smr_6_months_ago"]["band_order"] == 2


def test_setting_nursing_residential_or_unknown(listed):
    settings = {pid: listed[pid]["setting"] for pid in
                ("nursing_code", "residential_code", "care_home_code", "old_peoples_home_code", "address_flag_only",
                 "care_home_and_own_home_same_day")}
    assert settings == {"nursing_code": "nursing", "residential_code": "residential", "care_home_code": "unknown",
                        "old_peoples_home_code": "residential", "address_flag_only": "unknown",
                        "care_home_and_own_home_same_day": "unknown"}


def test_evidence_source_and_date(listed):
    assert (listed["nursing_code"]["evidence_source"], listed["nursing_code"]["residence_date"]) == \
        ("residence code", MOVED_IN)
    assert (listed["address_flag_only"]["evidence_source"], listed["address_flag_only"]["residence_date"]) == \
        ("address flag", None)
    assert listed["address_flag_and_code"]["evidence_source"] == "residence code and address flag"
    later = listed["address_flag_with_later_own_home_code"]
    assert (later["evidence_source"], later["residence_date"], later["setting"]) == ("address flag", None, "unknown")


def test_emergency_admissions_counted_per_day_in_window(listed):
    assert listed["two_admissions"]["emergency_admissions"] == 2
    assert listed["admission_window_edges"]["emergency_admissions"] == 2
    assert listed["nursing_code"]["emergency_admissions"] == 0


def test_efi_column_and_band(listed):
    assert (listed["frail_resident"]["efi"], listed["frail_resident"]["efi_band"]) == (pytest.approx(14 / 36), "severe")
    assert (listed["mildly_frail_resident_with_refuted_code"]["efi"],
            listed["mildly_frail_resident_with_refuted_code"]["efi_band"]) == (pytest.approx(5 / 36), "mild")
    assert listed["nursing_code"]["efi"] == pytest.approx(1 / 36)        # lives in a nursing home: requirement for care
    assert (listed["address_flag_only"]["efi"], listed["address_flag_only"]["efi_band"]) == (0.0, "fit")


def test_worklist_ranks_by_band_then_efi_then_emergency_admissions(spark):
    from engine.worklists.build import evaluate as worklist
    chosen = {k: CASES[k] for k in ("nursing_code", "smr_6_months_ago", "two_admissions", "address_flag_only",
                                    "mildly_frail_resident_with_refuted_code", "frail_resident")}
    ranked = worklist(COHORT, build(chosen).record(spark), AS_OF).worklist
    assert list(ranked["patient_id"]) == ["frail_resident", "mildly_frail_resident_with_refuted_code",
                                          "two_admissions", "nursing_code", "address_flag_only", "smr_6_months_ago"]


def test_last_smr_date(listed):
    assert listed["smr_6_months_ago"]["last_smr_date"] == months_ago(6)
    assert listed["smr_12_months_and_a_day_ago"]["last_smr_date"] is None


def test_reason_quotes_evidence_and_dates(listed):
    reason = listed["nursing_code"]["reason"]
    assert reason.startswith(f"Care-home resident (nursing home): residence code 'Lives in a nursing home' on "
                             f"{MOVED_IN.isoformat()}; no structured medication review since 2025-03-31; "
                             "no emergency admission since 2025-03-31")
    assert reason.endswith(".")
    assert "structured medication review on " + months_ago(6).isoformat() in listed["smr_6_months_ago"]["reason"]
    flagged = listed["address_flag_with_later_own_home_code"]["reason"]
    assert "address flagged as a care home (latest residence code 'Lives in own home' on" in flagged
    assert f"2 emergency admissions since 2025-03-31 (latest {months_ago(2).isoformat()})" in \
        listed["two_admissions"]["reason"]
    assert f"last care-home visit code {months_ago(2).isoformat()}" in listed["resident_with_visit"]["reason"]
    assert "; eFI 0.028 (1/36: requirement for care), fit." in reason
    assert "eFI 0.389 (14/36: " in listed["frail_resident"]["reason"] and "), severe" in listed["frail_resident"]["reason"]


def test_evidence_is_json(listed):
    ev = json.loads(listed["resident_with_visit"]["evidence"])
    assert ev["source"] == "residence code" and ev["setting"] == "nursing"
    assert (ev["residence_code"], ev["residence_date"]) == ("160734000", MOVED_IN.isoformat())
    assert (ev["care_home_contact_code"], ev["care_home_contact_date"]) == ("889311000000109", months_ago(2).isoformat())
    ev = json.loads(listed["address_flag_only"]["evidence"])
    assert ev["source"] == "address flag" and ev["address_care_home"] is True and "residence_date" not in ev
    assert (ev["efi"], ev["efi_deficits"], ev["efi_band"]) == (0.0, 0, "fit")


def test_every_rule_flag_true_for_members(listed):
    for row in listed.values():
        assert all(row[r.column] for r in COHORT.rules)


def test_non_members_are_still_rows_for_attrition(record):
    rows = {r["patient_id"]: r for r in COHORT.evaluate(record, AS_OF).collect()}
    assert rows["own_home_after_care_home"]["resident"] is False
    assert rows["own_home_after_care_home"]["reason"] is None
    assert "aged_17" not in rows and "died_before_as_of" not in rows


def test_residents_ignores_eligibility(record):
    """The shared function answers 'does this person live in a care home'; eligibility is the caller's."""
    got = {r["patient_id"] for r in residents(record, AS_OF, COHORT.params()).collect()}
    assert {"aged_17", "died_before_as_of", "nursing_code", "address_flag_only"} <= got
    assert not got & {"own_home_after_care_home", "visit_encounter_only", "code_entered_in_error"}


def test_parameters_change_the_answer(spark):
    chosen = {k: CASES[k] for k in ("residential_code", "nursing_code", "smr_6_months_ago")}
    rows = COHORT.evaluate(build(chosen).record(spark), AS_OF,
                           overrides={"care_home_types": ["nursing"], "smr_window_months": 3}).where("member")
    got = {r["patient_id"]: r["band"] for r in rows.collect()}
    assert got == {"nursing_code": "no SMR in 3 months", "smr_6_months_ago": "no SMR in 3 months"}


def test_unknown_or_mistyped_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter 'smr_months'"):
        COHORT.params({"smr_months": 6})
    with pytest.raises(ConfigError, match="must be a list"):
        COHORT.params({"care_home_types": "nursing"})


def test_explain_shows_current_values():
    text = COHORT.explain({"smr_window_months": 6, "care_home_types": ["nursing"]})
    assert "no structured medication review in the last 6 months" in text
    assert "care_home_types = nursing" in text and "UPRN" in text and "eFI" in text


def test_conf_file_holds_every_default_with_its_clinical_value():
    import yaml
    from engine.config import conf_dir
    from engine.cohorts.care_home import DEFAULTS
    assert yaml.safe_load((conf_dir() / "cohorts" / "care_home.yaml").read_text()) == DEFAULTS
