"""Spec tests for CLINICAL_RULES §2, care-home residents: one tiny patient per rule, one answer each."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import AS_OF, PALLIATIVE, months_ago
from engine.codes import SNOMED
from engine.cohorts.care_home import COHORT
from engine.codelists import load_codelist
from engine.config import ConfigError
from engine.features.facts import EFI_DEFICITS
from spec import Spec, clinical_values, evaluate

NURSING, RESIDENTIAL = (SNOMED, "160734000"), (SNOMED, "394923006")
CARE_HOME, OLD_PEOPLES_HOME = (SNOMED, "248171000000108"), (SNOMED, "160737007")
OWN_HOME, HOUSE = (SNOMED, "160943002"), (SNOMED, "242711000000100")
VISIT, SEEN_IN_NURSING_HOME = (SNOMED, "889311000000109"), (SNOMED, "185218006")
SMR, EMERGENCY_CODE = (SNOMED, "1239511000000100"), (SNOMED, "50849002")

B1, B2 = "no SMR in 12 months", "SMR in the last 12 months"
MOVED_IN = dt.date(2023, 6, 1)

# patient id → expected band (None = must not be listed), with the record that earns it.
SPEC = Spec("care_home", COHORT, age=86)
case = SPEC.case


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
@case(B1, address_care_home=True)
def address_flag_only(p, pid): pass
@case(B1, address_care_home=True)
def address_flag_and_code(p, pid): p.event(pid, NURSING, MOVED_IN)


@case(B1, address_care_home=True)
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


@case(None, death_date=AS_OF - dt.timedelta(days=1))
def died_before_as_of(p, pid): resident(p, pid)
@case(None, registration_end=AS_OF - dt.timedelta(days=1))
def deregistered(p, pid): resident(p, pid)
@case(None, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
def aged_17(p, pid): resident(p, pid)
@case(B1, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day))
def eighteenth_birthday_on_as_of(p, pid): resident(p, pid)


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


# six of the main cases alone in a practice, so the worklist ranks exactly these
ORDER = Spec("care_home.order", COHORT, age=86)
for _pid in ("nursing_code", "smr_6_months_ago", "two_admissions", "address_flag_only",
             "mildly_frail_resident_with_refuted_code", "frail_resident"):
    ORDER.add(_pid, SPEC.cases[_pid].expected, SPEC.cases[_pid].build, **SPEC.cases[_pid].patient)


def test_worklist_ranks_by_band_then_efi_then_emergency_admissions(spec_record):
    ranked = ORDER.worklist(spec_record).worklist
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


def test_non_members_are_still_rows_for_attrition(evaluated):
    assert evaluated["own_home_after_care_home"]["resident"] is False
    assert evaluated["own_home_after_care_home"]["reason"] is None
    assert "aged_17" not in evaluated and "died_before_as_of" not in evaluated



def test_residence_facts_ignore_eligibility(spec_record):
    """Residence is a patient fact ('does this person live in a care home'); eligibility is the cohort's."""
    facts = SPEC.fact_rows(spec_record, "care_home", "care_home_source", "care_home_setting", "resident_by_code",
                           "residence_type")
    got = {pid for pid, r in facts.items() if r["care_home"]}
    assert {"aged_17", "died_before_as_of", "nursing_code", "address_flag_only"} <= got
    assert not got & {"own_home_after_care_home", "visit_encounter_only", "code_entered_in_error"}
    assert (facts["aged_17"]["care_home_source"], facts["aged_17"]["care_home_setting"]) == ("residence code", "nursing")
    assert facts["address_flag_and_code"]["care_home_source"] == "residence code and address flag"
    own = facts["own_home_after_care_home"]
    assert (own["care_home_source"], own["resident_by_code"], own["residence_type"]) == (None, False, "not_care_home")


def test_parameters_change_the_answer(spec_record):
    chosen = ("residential_code", "nursing_code", "smr_6_months_ago")
    rows = SPEC.listed(spec_record, overrides={"smr_window_months": 3})
    got = {pid: r["band"] for pid, r in rows.items() if pid in chosen}
    assert got == {"residential_code": "no SMR in 3 months", "nursing_code": "no SMR in 3 months",
                   "smr_6_months_ago": "no SMR in 3 months"}


def test_care_home_types_come_from_the_facts_conf(spark, tmp_path, monkeypatch):
    """care_home_types moved to conf/facts.yaml: narrowing it there narrows the cohort."""
    # a record of its own: the shared record's facts were built with the real conf/facts.yaml
    import yaml
    from engine.config import conf_dir
    conf = tmp_path / "conf"
    conf.mkdir()
    for item in conf_dir().iterdir():
        if item.name != "facts.yaml":
            (conf / item.name).symlink_to(item)
    facts_yaml = yaml.safe_load((conf_dir() / "facts.yaml").read_text())
    (conf / "facts.yaml").write_text(yaml.safe_dump({**facts_yaml, "care_home_types": ["nursing"]}))
    monkeypatch.setenv("CASEFIND_CONF", str(conf))
    chosen = ("residential_code", "nursing_code", "smr_6_months_ago")
    rows = evaluate(COHORT, SPEC.population().record(spark), AS_OF).where("member").collect()
    assert {r["patient_id"]: r["band"] for r in rows if r["patient_id"] in chosen} == \
        {"nursing_code": B1, "smr_6_months_ago": B2}


def test_unknown_or_mistyped_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter 'smr_months'"):
        COHORT.params({"smr_months": 6})
    with pytest.raises(ConfigError, match="unknown parameter 'care_home_types'"):    # a facts choice now
        COHORT.params({"care_home_types": ["nursing"]})
    with pytest.raises(ConfigError, match="must be a whole number"):
        COHORT.params({"smr_window_months": "six"})


def test_explain_shows_current_values():
    text = COHORT.explain({"smr_window_months": 6})
    assert "no structured medication review in the last 6 months" in text and "smr_window_months = 6" in text
    assert "care_home_types in conf/facts.yaml" in text and "UPRN" in text and "eFI" in text


# --- a patient meeting everything but one rule is not listed -----------------------------------------
FAILING_ALONE = Spec("care_home.failing_alone", COHORT, age=86)
FAILING_ALONE.add("resident_control", None, resident)
FAILING_ALONE.add("resident_but_own_home_since", None,
                  lambda p, pid: (resident(p, pid), p.event(pid, OWN_HOME, AS_OF)))
FAILING_ALONE.add("resident_but_aged_17", None, resident,
                  birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
FAILING_ALONE.add("resident_but_died", None, resident, death_date=AS_OF)
FAILING_ALONE.add("resident_but_deregistered", None, resident, registration_end=AS_OF)


def test_each_rule_failing_alone_unlists(spec_record):
    """The same resident, once eligible and listed, then with one thing changed each time."""
    rows = FAILING_ALONE.evaluated(spec_record)
    assert rows["resident_control"]["member"] and rows["resident_control"]["band"] == B1
    assert (rows["resident_but_own_home_since"]["resident"], rows["resident_but_own_home_since"]["member"]) == \
        (False, False)
    assert not {"resident_but_aged_17", "resident_but_died", "resident_but_deregistered"} & set(rows)


# --- band boundary: an SMR exactly at the window start puts the resident in band 2 ------------------
@pytest.mark.parametrize("pid,band_order", [
    ("smr_exactly_12_months_ago", 2), ("smr_12_months_and_a_day_ago", 1), ("smr_after_as_of", 1)])
def test_smr_window_band_boundary(listed, pid, band_order):
    assert listed[pid]["band_order"] == band_order
    assert listed[pid]["band"] == (B1, B2)[band_order - 1]
    assert listed[pid]["last_smr_date"] == (months_ago(12) if band_order == 2 else None)


TIES = Spec("care_home.ties", COHORT, age=86)
TIES.add("tie_b", None, resident)
TIES.add("tie_a", None, resident)
TIES.add("tie_c_smr", None, lambda p, pid: (resident(p, pid), p.event(pid, SMR, months_ago(1), kind="procedure")))
TIES.add("tie_z_more_admissions", None, lambda p, pid: (resident(p, pid), p.encounter(pid, months_ago(1), "emergency")))


def test_worklist_breaks_a_tie_by_patient_id(spec_record):
    """Same band, same eFI, same admissions: patient_id decides, whatever order the record holds."""
    ranked = TIES.worklist(spec_record).worklist
    assert list(ranked["patient_id"]) == ["tie_z_more_admissions", "tie_a", "tie_b", "tie_c_smr"]
    assert list(ranked["rank"]) == [1, 2, 3, 4]


GOLDEN = {
    'address_flag_and_code': (
        "Care-home resident (nursing home): residence code 'Lives in a nursing home' on 2023-06-01; address "
        'flagged as a care home; no structured medication review since 2025-03-31; no emergency admission since '
        '2025-03-31; eFI 0.028 (1/36: requirement for care), fit.',
        '{"source":"residence code and address flag","setting":"nursing","residence_code":"160734000",'
        '"residence_term":"Lives in a nursing home","residence_type":"nursing","residence_date":"2023-06-01",'
        '"address_care_home":true,"smr_window_start":"2025-03-31","efi":0.027777777777777776,"efi_deficits":1,'
        '"efi_band":"fit","efi_deficit_list":"requirement for care","emergency_admissions":0,'
        '"emergency_window_start":"2025-03-31"}'),
    'address_flag_with_later_own_home_code': (
        "Care-home resident: address flagged as a care home (latest residence code 'Lives in own home' on "
        '2023-09-09); no structured medication review since 2025-03-31; no emergency admission since 2025-03-31; '
        'eFI 0.000 (0/36: ), fit.',
        '{"source":"address flag","setting":"unknown","residence_code":"160943002","residence_term":"Lives in own '
        'home","residence_type":"not_care_home","residence_date":"2023-09-09","address_care_home":true,'
        '"smr_window_start":"2025-03-31","efi":0.0,"efi_deficits":0,"efi_band":"fit","efi_deficit_list":"",'
        '"emergency_admissions":0,"emergency_window_start":"2025-03-31"}'),
    'frail_resident': (
        "Care-home resident (nursing home): residence code 'Lives in a nursing home' on 2023-06-01; no structured "
        'medication review since 2025-03-31; no emergency admission since 2025-03-31; eFI 0.389 (14/36: activity '
        'limitation, anaemia, arthritis, atrial fibrillation, cerebrovascular disease, chronic kidney disease, '
        'diabetes, dizziness, dyspnoea, foot problems, fragility fracture, hearing impairment, heart failure, '
        'requirement for care), severe.',
        '{"source":"residence code","setting":"nursing","residence_code":"160734000","residence_term":"Lives in a '
        'nursing home","residence_type":"nursing","residence_date":"2023-06-01","address_care_home":false,'
        '"smr_window_start":"2025-03-31","efi":0.3888888888888889,"efi_deficits":14,"efi_band":"severe",'
        '"efi_deficit_list":"activity limitation, anaemia, arthritis, atrial fibrillation, cerebrovascular '
        'disease, chronic kidney disease, diabetes, dizziness, dyspnoea, foot problems, fragility fracture, '
        'hearing impairment, heart failure, requirement for care","emergency_admissions":0,'
        '"emergency_window_start":"2025-03-31"}'),
    'resident_with_visit': (
        "Care-home resident (nursing home): residence code 'Lives in a nursing home' on 2023-06-01; no structured "
        'medication review since 2025-03-31; no emergency admission since 2025-03-31; eFI 0.028 (1/36: requirement '
        'for care), fit; last care-home visit code 2026-01-31.',
        '{"source":"residence code","setting":"nursing","residence_code":"160734000","residence_term":"Lives in a '
        'nursing home","residence_type":"nursing","residence_date":"2023-06-01","address_care_home":false,'
        '"care_home_contact_code":"889311000000109","care_home_contact_date":"2026-01-31",'
        '"smr_window_start":"2025-03-31","efi":0.027777777777777776,"efi_deficits":1,"efi_band":"fit",'
        '"efi_deficit_list":"requirement for care","emergency_admissions":0,"emergency_window_start":"2025-03-31"}'),
    'smr_6_months_ago': (
        "Care-home resident (nursing home): residence code 'Lives in a nursing home' on 2023-06-01; structured "
        'medication review on 2025-09-30; no emergency admission since 2025-03-31; eFI 0.028 (1/36: requirement '
        'for care), fit.',
        '{"source":"residence code","setting":"nursing","residence_code":"160734000","residence_term":"Lives in a '
        'nursing home","residence_type":"nursing","residence_date":"2023-06-01","address_care_home":false,'
        '"last_smr_in_window":"2025-09-30","smr_window_start":"2025-03-31","efi":0.027777777777777776,'
        '"efi_deficits":1,"efi_band":"fit","efi_deficit_list":"requirement for care","emergency_admissions":0,'
        '"emergency_window_start":"2025-03-31"}'),
    'two_admissions': (
        "Care-home resident (nursing home): residence code 'Lives in a nursing home' on 2023-06-01; no structured "
        'medication review since 2025-03-31; 2 emergency admissions since 2025-03-31 (latest 2026-01-31); eFI '
        '0.028 (1/36: requirement for care), fit.',
        '{"source":"residence code","setting":"nursing","residence_code":"160734000","residence_term":"Lives in a '
        'nursing home","residence_type":"nursing","residence_date":"2023-06-01","address_care_home":false,'
        '"smr_window_start":"2025-03-31","efi":0.027777777777777776,"efi_deficits":1,"efi_band":"fit",'
        '"efi_deficit_list":"requirement for care","emergency_admissions":2,'
        '"last_emergency_admission":"2026-01-31","emergency_window_start":"2025-03-31"}'),
}


@pytest.mark.parametrize("pid", list(GOLDEN))
def test_reason_and_evidence_unchanged_from_the_record_based_cohort(listed, pid):
    """Golden output of the cohort before it read the patient facts: worklists must not change."""
    assert (listed[pid]["reason"], listed[pid]["evidence"]) == GOLDEN[pid]


# --- the clinical values in conf/cohorts/care_home.yaml ---------------------------------------------
def test_conf_holds_the_clinical_values():
    clinical_values(COHORT, {
        "min_age": (18, "age ≥ 18 unless a rule says otherwise"),
        "smr_window_months": (12, "Rank: no SMR in 12 months first"),
        "emergency_window_months": (12, "then emergency admissions in 12 months (desc)"),
    })
