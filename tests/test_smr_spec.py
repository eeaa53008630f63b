"""Spec tests for CLINICAL_RULES §1, SMR priority patients: one tiny patient per rule, one answer each."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import AS_OF, EGFR, PALLIATIVE, months_ago
from engine.codes import RXNORM, SNOMED
from engine.cohorts.smr import COHORT
from engine.codelists import load_codelist
from engine.config import ConfigError
from engine.features.facts import EFI_DEFICITS
from spec import Spec, clinical_values

SMR = (SNOMED, "1239511000000100")
NURSING = (SNOMED, "160734000")
NSAID, NSAID_RX = (SNOMED, "329653008"), (RXNORM, "198014")
PPI, ANTICOAGULANT = (SNOMED, "42356411000001102"), (SNOMED, "319735007")
HEART_FAILURE = (SNOMED, "84114007")
ASTHMA, ASTHMA_RESOLVED = (SNOMED, "195967001"), (SNOMED, "162660004")
PROPRANOLOL = (SNOMED, "318353009")
CO_CODAMOL, OXYCODONE_RX = (SNOMED, "322341003"), (RXNORM, "1049221")
PREGABALIN, DIAZEPAM, ZOPICLONE = (SNOMED, "415165003"), (SNOMED, "321197008"), (SNOMED, "321175006")
SEVERE_FRAILTY, MODERATE_FRAILTY = (SNOMED, "925861000000102"), (SNOMED, "925831000000107")
HOUSEBOUND, LIVES_ALONE, FALL = (SNOMED, "160689007"), (SNOMED, "105529008"), (SNOMED, "1912002")
EMERGENCY_CODE = (SNOMED, "50849002")

RECENT = months_ago(1)
ONE = "1 subgroup"
OLD = dict(age=70)

# patient id → expected band (None = must not be listed), with the record that earns it.
SPEC = Spec("smr", COHORT, age=50)
case = SPEC.case


def medicines(p, pid, n, day=RECENT):
    """n distinct medicines (codes in no cohort list), one issue each."""
    for k in range(n):
        p.medication(pid, (SNOMED, f"9000000{k:02d}"), day)


def dual_coded(p, pid, a, b, day=RECENT):
    """One prescription carrying two codes (dm+d and RxNorm), as FHIR sources often write it."""
    sid = f"MedicationRequest/dual-{pid}-{day.isoformat()}"
    p.medication(pid, a, day, source_id=sid)
    p.medication(pid, b, day, source_id=sid)


# --- polypharmacy ---------------------------------------------------------------------------------
@case(ONE)
def poly_10(p, pid): medicines(p, pid, 10)
@case(None)
def poly_9(p, pid): medicines(p, pid, 9)


@case(ONE)
def poly_10th_exactly_90_days_ago(p, pid):
    medicines(p, pid, 9)
    p.medication(pid, (SNOMED, "900000099"), AS_OF - dt.timedelta(days=90))


@case(None)
def poly_10th_91_days_ago(p, pid):
    medicines(p, pid, 9)
    p.medication(pid, (SNOMED, "900000099"), AS_OF - dt.timedelta(days=91))


@case(None)
def poly_repeat_issues_are_one_medicine(p, pid):
    medicines(p, pid, 9)
    medicines(p, pid, 9, day=months_ago(2))


@case(None)
def poly_dual_coded_issue_counts_once(p, pid):
    medicines(p, pid, 8)
    dual_coded(p, pid, (SNOMED, "900000098"), (RXNORM, "900000098"))


@case(None)
def poly_cancelled_issue_does_not_count(p, pid):
    medicines(p, pid, 9)
    p.medication(pid, (SNOMED, "900000099"), RECENT, status="cancelled")


# --- error-prone prescribing: GI_P3A --------------------------------------------------------------
@case(ONE, **OLD)
def gi_p3a_aged_70(p, pid): p.medication(pid, NSAID, RECENT)
@case(ONE, birth_date=dt.date(AS_OF.year - 65, AS_OF.month, AS_OF.day))
def gi_p3a_65th_birthday_on_as_of(p, pid): p.medication(pid, NSAID, RECENT)
@case(None, birth_date=dt.date(AS_OF.year - 65, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
def gi_p3a_aged_64(p, pid): p.medication(pid, NSAID, RECENT)


@case(None, **OLD)
def gi_p3a_with_ppi(p, pid):
    p.medication(pid, NSAID, RECENT)
    p.medication(pid, PPI, months_ago(2))


@case(ONE, **OLD)
def gi_p3a_ppi_3_months_and_a_day_ago(p, pid):
    p.medication(pid, NSAID, RECENT)
    p.medication(pid, PPI, months_ago(3, days=1))


@case(ONE, **OLD)
def nsaid_exactly_3_months_ago(p, pid): p.medication(pid, NSAID, months_ago(3))
@case(None, **OLD)
def nsaid_3_months_and_a_day_ago(p, pid): p.medication(pid, NSAID, months_ago(3, days=1))
@case(ONE, **OLD)
def nsaid_rxnorm_coded(p, pid): p.medication(pid, NSAID_RX, RECENT)
@case(None, **OLD)
def nsaid_cancelled(p, pid): p.medication(pid, NSAID, RECENT, status="cancelled")
@case(None, **OLD)
def nsaid_after_as_of(p, pid): p.medication(pid, NSAID, AS_OF + dt.timedelta(days=1))


# --- GI_P3D, HF_P3I, KI_P3K, AS_P3G ---------------------------------------------------------------
@case(ONE)
def gi_p3d_anticoagulant_and_nsaid(p, pid):
    p.medication(pid, ANTICOAGULANT, RECENT)
    p.medication(pid, NSAID, RECENT)


@case(None)
def gi_p3d_anticoagulant_3_months_and_a_day_ago(p, pid):
    p.medication(pid, ANTICOAGULANT, months_ago(3, days=1))
    p.medication(pid, NSAID, RECENT)


@case(None)
def anticoagulant_without_nsaid(p, pid): p.medication(pid, ANTICOAGULANT, RECENT)


@case(ONE)
def hf_p3i_heart_failure_and_nsaid(p, pid):
    p.diagnosis(pid, HEART_FAILURE, dt.date(2020, 1, 1))
    p.medication(pid, NSAID, RECENT)


@case(None)
def heart_failure_resolved_and_nsaid(p, pid):
    p.diagnosis(pid, HEART_FAILURE, dt.date(2020, 1, 1))
    p.diagnosis(pid, HEART_FAILURE, dt.date(2021, 1, 1), status="resolved")
    p.medication(pid, NSAID, RECENT)


@case(None)
def heart_failure_without_nsaid(p, pid): p.diagnosis(pid, HEART_FAILURE, dt.date(2020, 1, 1))


@case(ONE)
def ki_p3k_egfr_44_and_nsaid(p, pid):
    p.event(pid, EGFR, months_ago(4), 44)
    p.medication(pid, NSAID, RECENT)


@case(None)
def egfr_45_and_nsaid(p, pid):
    p.event(pid, EGFR, months_ago(4), 45)
    p.medication(pid, NSAID, RECENT)


@case(None)
def egfr_44_then_60_and_nsaid(p, pid):
    p.event(pid, EGFR, months_ago(14), 44)
    p.event(pid, EGFR, months_ago(4), 60)
    p.medication(pid, NSAID, RECENT)


@case(ONE)
def ki_p3k_egfr_40_years_ago(p, pid):
    p.event(pid, EGFR, dt.date(2019, 6, 1), 40)
    p.medication(pid, NSAID, RECENT)


@case(None)
def egfr_44_without_nsaid(p, pid): p.event(pid, EGFR, months_ago(4), 44)


@case(ONE)
def as_p3g_asthma_and_propranolol(p, pid):
    p.diagnosis(pid, ASTHMA, dt.date(2015, 1, 1))
    p.medication(pid, PROPRANOLOL, RECENT)


@case(None)
def asthma_resolved_and_propranolol(p, pid):
    p.diagnosis(pid, ASTHMA, dt.date(2015, 1, 1))
    p.event(pid, ASTHMA_RESOLVED, dt.date(2019, 1, 1))
    p.medication(pid, PROPRANOLOL, RECENT)


@case(None)
def asthma_and_propranolol_3_months_and_a_day_ago(p, pid):
    p.diagnosis(pid, ASTHMA, dt.date(2015, 1, 1))
    p.medication(pid, PROPRANOLOL, months_ago(3, days=1))


@case(ONE, **OLD)
def two_hazards_one_subgroup(p, pid):
    p.diagnosis(pid, HEART_FAILURE, dt.date(2020, 1, 1))
    p.medication(pid, NSAID, RECENT)


# The evidence names eGFR, heart failure and asthma when a hazard medicine class was issued in the
# window (as the worklist always has), not otherwise.
@case(ONE)
def poly_10_egfr_no_hazard_medicine(p, pid):
    medicines(p, pid, 10)
    p.event(pid, EGFR, months_ago(4), 44)
    p.diagnosis(pid, HEART_FAILURE, dt.date(2020, 1, 1))


@case(ONE)
def poly_10_egfr_and_ppi(p, pid):
    medicines(p, pid, 9)
    p.medication(pid, PPI, RECENT)
    p.event(pid, EGFR, months_ago(4), 44)
    p.diagnosis(pid, HEART_FAILURE, dt.date(2020, 1, 1))


# --- frail and vulnerable -------------------------------------------------------------------------
def frail(p, pid): p.event(pid, SEVERE_FRAILTY, dt.date(2024, 2, 1))


@case(ONE)
def frail_housebound(p, pid):
    frail(p, pid)
    p.event(pid, HOUSEBOUND, dt.date(2019, 1, 1))


@case(ONE)
def frail_lives_alone(p, pid):
    frail(p, pid)
    p.event(pid, LIVES_ALONE, dt.date(2018, 1, 1))


@case(ONE)
def frail_fall_exactly_12_months_ago(p, pid):
    frail(p, pid)
    p.event(pid, FALL, months_ago(12))


@case(None)
def frail_fall_12_months_and_a_day_ago(p, pid):
    frail(p, pid)
    p.event(pid, FALL, months_ago(12, days=1))


@case(ONE)
def frail_emergency_encounter_exactly_12_months_ago(p, pid):
    frail(p, pid)
    p.encounter(pid, months_ago(12), "emergency")


@case(None)
def frail_emergency_encounter_12_months_and_a_day_ago(p, pid):
    frail(p, pid)
    p.encounter(pid, months_ago(12, days=1), "emergency")


@case(ONE)
def frail_emergency_admission_code(p, pid):
    frail(p, pid)
    p.event(pid, EMERGENCY_CODE, months_ago(5))


@case(None)
def frail_ambulatory_encounter(p, pid):
    frail(p, pid)
    p.encounter(pid, months_ago(5), "ambulatory")


@case(None)
def frail_only(p, pid): frail(p, pid)
@case(None)
def housebound_not_frail(p, pid): p.event(pid, HOUSEBOUND, dt.date(2019, 1, 1))


@case(None)
def moderate_frailty_housebound(p, pid):
    p.event(pid, MODERATE_FRAILTY, dt.date(2024, 2, 1))
    p.event(pid, HOUSEBOUND, dt.date(2019, 1, 1))


@case(None)
def frail_housebound_entered_in_error(p, pid):
    frail(p, pid)
    p.event(pid, HOUSEBOUND, dt.date(2019, 1, 1), status="entered-in-error")


# severe frailty by the electronic Frailty Index (eFI > 0.36 = 13 of 36 deficits), no frailty code
EFI_LISTS = [c for _, c, _ in EFI_DEFICITS
             if c.startswith("efi_") and c not in ("efi_care_requirement", "efi_social_vulnerability")]


def efi_deficits(p, pid, k, status="active"):
    """k eFI deficits that touch no other SMR rule, one code each, long ago."""
    for codelist in EFI_LISTS[:k]:
        row = load_codelist(codelist).rows[0]
        p.event(pid, (row["system"], row["code"]), dt.date(2015, 6, 1), status=status, kind="condition")


@case(ONE)
def efi_13_housebound(p, pid):            # 12 + housebound = 13/36 = 0.361
    efi_deficits(p, pid, 12)
    p.event(pid, HOUSEBOUND, dt.date(2019, 1, 1))


@case(None)
def efi_12_housebound(p, pid):            # 11 + housebound = 12/36 = 0.333
    efi_deficits(p, pid, 11)
    p.event(pid, HOUSEBOUND, dt.date(2019, 1, 1))


@case(ONE)
def efi_13_recent_fall(p, pid):           # 12 + a fall in 12 months (a deficit and a vulnerability)
    efi_deficits(p, pid, 12)
    p.event(pid, FALL, months_ago(3))


@case(None)
def efi_12_fall_12_months_and_a_day_ago(p, pid):   # the old fall is neither a deficit nor a vulnerability
    efi_deficits(p, pid, 12)
    p.event(pid, FALL, months_ago(12, days=1))
    p.event(pid, LIVES_ALONE, months_ago(12, days=1), status="refuted")


@case(None)
def efi_14_not_vulnerable(p, pid): efi_deficits(p, pid, 14)


@case(None)
def efi_13_one_refuted_housebound(p, pid):         # 11 + 1 refuted + housebound = 12/36
    efi_deficits(p, pid, 11)
    row = load_codelist(EFI_LISTS[11]).rows[0]
    p.event(pid, (row["system"], row["code"]), dt.date(2015, 6, 1), status="refuted")
    p.event(pid, HOUSEBOUND, dt.date(2019, 1, 1))


# --- addictive medicines --------------------------------------------------------------------------
@case(ONE)
def addictive_two_opioid_issues(p, pid):
    p.medication(pid, CO_CODAMOL, months_ago(2))
    p.medication(pid, CO_CODAMOL, months_ago(1))


@case(ONE)
def addictive_opioid_and_benzodiazepine(p, pid):
    p.medication(pid, OXYCODONE_RX, months_ago(8))
    p.medication(pid, DIAZEPAM, months_ago(1))


@case(ONE)
def addictive_gabapentinoid_and_z_drug(p, pid):
    p.medication(pid, PREGABALIN, months_ago(10))
    p.medication(pid, ZOPICLONE, months_ago(6))


@case(None)
def one_addictive_issue(p, pid): p.medication(pid, DIAZEPAM, months_ago(1))


@case(ONE)
def second_addictive_issue_exactly_12_months_ago(p, pid):
    p.medication(pid, DIAZEPAM, months_ago(1))
    p.medication(pid, DIAZEPAM, months_ago(12))


@case(None)
def second_addictive_issue_12_months_and_a_day_ago(p, pid):
    p.medication(pid, DIAZEPAM, months_ago(1))
    p.medication(pid, DIAZEPAM, months_ago(12, days=1))


@case(None)
def dual_coded_opioid_issue_counts_once(p, pid):
    dual_coded(p, pid, CO_CODAMOL, OXYCODONE_RX, months_ago(2))


# --- repeat authorisations (CLINICAL_RULES §0) -------------------------------------------------------
@case(ONE)
def poly_10_standing_orders(p, pid):
    """Ten medicines on standing orders authored years ago and still active (Synthea's shape)."""
    for k in range(10):
        p.authorisation(pid, (SNOMED, f"9000000{k:02d}"), dt.date(2019, 1, 1))


@case(None)
def poly_9_standing_orders_and_one_ended(p, pid):
    for k in range(9):
        p.authorisation(pid, (SNOMED, f"9000000{k:02d}"), dt.date(2019, 1, 1))
    p.authorisation(pid, (SNOMED, "900000009"), dt.date(2019, 1, 1), end=months_ago(4), status="completed")


@case(ONE)
def addictive_one_opioid_authorisation_in_force(p, pid):
    """One authorisation covering the last 12 months (366 days) implies 14 issues, one per started 28 days."""
    p.authorisation(pid, CO_CODAMOL, dt.date(2023, 1, 1))


@case(ONE)
def addictive_authorisation_covering_29_days(p, pid):
    p.authorisation(pid, DIAZEPAM, dt.date(2023, 1, 1), end=months_ago(12) + dt.timedelta(days=28),
                    status="completed")


@case(None)
def addictive_authorisation_covering_28_days(p, pid):
    p.authorisation(pid, DIAZEPAM, dt.date(2023, 1, 1), end=months_ago(12) + dt.timedelta(days=27),
                    status="completed")


@case(None)
def addictive_authorisation_stopped_undated(p, pid):
    p.authorisation(pid, DIAZEPAM, months_ago(2), status="stopped")


@case(ONE, **OLD)
def gi_p3a_nsaid_standing_order(p, pid): p.authorisation(pid, NSAID, dt.date(2024, 6, 1))


@case(None, **OLD)
def gi_p3a_nsaid_standing_order_with_ppi_standing_order(p, pid):
    p.authorisation(pid, NSAID, dt.date(2024, 6, 1))
    p.authorisation(pid, PPI, dt.date(2022, 6, 1))


# --- care home ------------------------------------------------------------------------------------
@case(ONE, address_care_home=True)
def care_home_address_flag(p, pid): pass
@case(ONE)
def care_home_nursing_code(p, pid): p.event(pid, NURSING, dt.date(2023, 1, 1))


# --- several subgroups ----------------------------------------------------------------------------
@case("3 subgroups", address_care_home=True)
def three_subgroups(p, pid):
    medicines(p, pid, 10)
    p.medication(pid, CO_CODAMOL, months_ago(2))
    p.medication(pid, CO_CODAMOL, months_ago(1))


@case("5 subgroups", age=88, address_care_home=True)
def five_subgroups(p, pid):
    medicines(p, pid, 8)
    p.medication(pid, NSAID, RECENT)
    p.medication(pid, CO_CODAMOL, months_ago(2))
    p.medication(pid, CO_CODAMOL, months_ago(1))
    frail(p, pid)
    p.event(pid, HOUSEBOUND, dt.date(2019, 1, 1))


@case("2 subgroups", address_care_home=True)
def two_subgroups(p, pid): medicines(p, pid, 10)


@case("4 subgroups", address_care_home=True, **OLD)
def four_subgroups(p, pid):
    medicines(p, pid, 10)
    p.medication(pid, NSAID, RECENT)
    p.medication(pid, CO_CODAMOL, months_ago(2))
    p.medication(pid, CO_CODAMOL, months_ago(1))


def all_five(p, pid):
    five_subgroups(p, pid)


# --- exclusions and eligibility -------------------------------------------------------------------
@case(None)
def smr_6_months_ago(p, pid):
    medicines(p, pid, 10)
    p.event(pid, SMR, months_ago(6), kind="procedure")


@case(None)
def smr_exactly_12_months_ago(p, pid):
    medicines(p, pid, 10)
    p.event(pid, SMR, months_ago(12), kind="procedure")


@case(ONE)
def smr_12_months_and_a_day_ago(p, pid):
    medicines(p, pid, 10)
    p.event(pid, SMR, months_ago(12, days=1), kind="procedure")


@case(ONE)
def smr_entered_in_error(p, pid):
    medicines(p, pid, 10)
    p.event(pid, SMR, months_ago(2), kind="procedure", status="entered-in-error")


@case(None)
def palliative(p, pid):
    medicines(p, pid, 10)
    p.event(pid, PALLIATIVE, dt.date(2025, 6, 1))


# every subgroup, but one criterion fails: not listed
@case(None, age=88, address_care_home=True)
def five_subgroups_but_smr_2_months_ago(p, pid):
    all_five(p, pid)
    p.event(pid, SMR, months_ago(2), kind="procedure")


@case(None, age=88, address_care_home=True)
def five_subgroups_but_palliative(p, pid):
    all_five(p, pid)
    p.event(pid, PALLIATIVE, dt.date(2025, 6, 1))


@case(None, death_date=AS_OF - dt.timedelta(days=1))
def died_before_as_of(p, pid): medicines(p, pid, 10)
@case(None, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
def aged_17(p, pid): medicines(p, pid, 10)
@case(ONE, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day))
def eighteenth_birthday_on_as_of(p, pid): medicines(p, pid, 10)


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


EXPECTED_SUBGROUP = {
    "poly_10": "polypharmacy", "gi_p3a_aged_70": "error_prone", "hf_p3i_heart_failure_and_nsaid": "error_prone",
    "frail_housebound": "frail_and_vulnerable", "addictive_two_opioid_issues": "addictive",
    "efi_13_housebound": "frail_and_vulnerable", "efi_13_recent_fall": "frail_and_vulnerable",
    "care_home_address_flag": "care_home", "care_home_nursing_code": "care_home",
}


@pytest.mark.parametrize("pid", list(EXPECTED_SUBGROUP))
def test_the_subgroup_named_is_the_one_met(listed, pid):
    row = listed[pid]
    assert row["subgroups"] == EXPECTED_SUBGROUP[pid]
    assert [s for s in ("care_home", "polypharmacy", "error_prone", "frail_and_vulnerable", "addictive") if row[s]] == \
        [EXPECTED_SUBGROUP[pid]]


@pytest.mark.parametrize("pid,hazards", [
    ("gi_p3a_aged_70", "GI_P3A"), ("gi_p3d_anticoagulant_and_nsaid", "GI_P3D"),
    ("hf_p3i_heart_failure_and_nsaid", "HF_P3I"), ("ki_p3k_egfr_44_and_nsaid", "KI_P3K"),
    ("as_p3g_asthma_and_propranolol", "AS_P3G"), ("two_hazards_one_subgroup", "GI_P3A, HF_P3I"),
    ("poly_10", None)])
def test_hazards_named(listed, pid, hazards):
    assert listed[pid]["hazards"] == hazards


def test_band_order_is_six_minus_subgroups(listed):
    assert {listed[p]["band_order"] for p in ("poly_10", "three_subgroups", "five_subgroups")} == {5, 3, 1}
    assert listed["five_subgroups"]["subgroups"] == "care_home, polypharmacy, error_prone, frail_and_vulnerable, addictive"
    assert listed["three_subgroups"]["subgroups"] == "care_home, polypharmacy, addictive"


def test_rank_inputs(listed):
    assert listed["poly_10"]["current_medicines"] == 10
    assert listed["poly_10th_exactly_90_days_ago"]["current_medicines"] == 10
    assert listed["five_subgroups"]["current_medicines"] == 10
    assert json.loads(listed["five_subgroups"]["evidence"])["age"] == 88
    assert listed["care_home_address_flag"]["current_medicines"] == 0


# (patient id, the case it copies, its age): the record holds them in this order on purpose.
ORDER = Spec("smr.order", COHORT)
for _pid, _like, _age in (
        ("poly_10_twin", "poly_10", 40),          # ties with poly_10 on band, medicines and age
        ("poly_10", "poly_10", 40), ("smr_12_months_and_a_day_ago", "smr_12_months_and_a_day_ago", 60),
        ("gi_p3a_aged_70", "gi_p3a_aged_70", 70), ("two_subgroups", "two_subgroups", 50),
        ("five_subgroups", "five_subgroups", 88), ("three_subgroups", "three_subgroups", 50),
        ("care_home_address_flag", "care_home_address_flag", 50), ("four_subgroups", "four_subgroups", 70)):
    ORDER.add(_pid, SPEC.cases[_like].expected, SPEC.cases[_like].build, **{**SPEC.cases[_like].patient, "age": _age})


def test_worklist_ranks_by_subgroups_then_medicines_then_age(spec_record):
    """Band (most subgroups first), then most current medicines, then oldest, then patient_id."""
    ranked = ORDER.worklist(spec_record).worklist
    assert list(ranked["patient_id"]) == ["five_subgroups", "four_subgroups", "three_subgroups", "two_subgroups",
                                          "smr_12_months_and_a_day_ago", "poly_10", "poly_10_twin",
                                          "gi_p3a_aged_70", "care_home_address_flag"]
    assert list(ranked["band"][:5]) == ["5 subgroups", "4 subgroups", "3 subgroups", "2 subgroups", ONE]
    assert list(ranked["rank"]) == list(range(1, 10))


def test_attrition_flags(evaluated):
    smr = evaluated["smr_6_months_ago"]
    assert (smr["no_recent_smr"], smr["not_palliative"], smr["any_subgroup"]) == (False, True, True)
    pall = evaluated["palliative"]
    assert (pall["no_recent_smr"], pall["not_palliative"], pall["any_subgroup"]) == (True, False, True)
    none = evaluated["poly_9"]
    assert (none["no_recent_smr"], none["not_palliative"], none["any_subgroup"], none["reason"]) == (True, True, False, None)
    assert "aged_17" not in evaluated and "died_before_as_of" not in evaluated


def test_reason_names_subgroups_with_values_and_dates(listed):
    reason = listed["gi_p3a_aged_70"]["reason"]
    assert reason.startswith(f"1 subgroup: error-prone prescribing (GI_P3A aged 70 on oral NSAID (issued on "
                             f"{RECENT.isoformat()}) without a PPI/H2RA since 2025-12-31)")
    assert reason.endswith("; no structured medication review since 2025-03-31.")
    assert ("polypharmacy (10 current medicines: issued since 2025-12-31 or on a repeat authorisation still "
            "active)") in listed["poly_10"]["reason"]
    assert "GI_P3A aged 70 on oral NSAID (repeat authorised since 2024-06-01, still active)" in \
        listed["gi_p3a_nsaid_standing_order"]["reason"]
    assert "addictive medicines (14 issues since 2025-03-31: opioid)" in \
        listed["addictive_one_opioid_authorisation_in_force"]["reason"]
    assert "KI_P3K latest eGFR 44 on " + months_ago(4).isoformat() in listed["ki_p3k_egfr_44_and_nsaid"]["reason"]
    assert "AS_P3G asthma (coded 2015-01-01) with a non-selective beta-blocker" in \
        listed["as_p3g_asthma_and_propranolol"]["reason"]
    assert "frail and vulnerable (severe frailty coded 2024-02-01; housebound (coded 2019-01-01))" in \
        listed["frail_housebound"]["reason"]
    assert "1 emergency admission(s) since 2025-03-31, latest 2025-03-31" in \
        listed["frail_emergency_encounter_exactly_12_months_ago"]["reason"]
    assert "addictive medicines (2 issues since 2025-03-31: benzodiazepine, opioid)" in \
        listed["addictive_opioid_and_benzodiazepine"]["reason"]
    assert "care home (address flag)" in listed["care_home_address_flag"]["reason"]
    assert "care home (residence code, nursing)" in listed["care_home_nursing_code"]["reason"]


def test_evidence_is_json(listed):
    ev = json.loads(listed["five_subgroups"]["evidence"])
    assert ev["subgroups"].count(",") == 4 and ev["current_medicines"] == 10 and ev["hazards"] == "GI_P3A"
    assert ev["severe_frailty_coded"] == "2024-02-01" and ev["addictive_issues"] == 2
    assert ev["care_home_source"] == "address flag" and ev["nsaid_last_issued"] == RECENT.isoformat()
    ev = json.loads(listed["ki_p3k_egfr_44_and_nsaid"]["evidence"])
    assert (ev["egfr"], ev["egfr_date"]) == (44.0, months_ago(4).isoformat())


def test_parameters_change_the_answer(spec_record):
    chosen = ("poly_9", "nsaid_3_months_and_a_day_ago", "one_addictive_issue", "frail_only")
    rows = SPEC.listed(spec_record, overrides={"polypharmacy_min": 9, "hazard_window_months": 4,
                                               "addictive_min_issues": 1})
    got = {pid: r["band"] for pid, r in rows.items() if pid in chosen}
    assert got == {"poly_9": ONE, "nsaid_3_months_and_a_day_ago": ONE, "one_addictive_issue": ONE}


def test_reason_and_evidence_quote_the_efi(listed):
    reason = listed["efi_13_housebound"]["reason"]
    assert "frail and vulnerable (severe frailty by eFI 0.361 (13/36: " in reason and "housebound (coded 2019-01-01)" in reason
    assert "severe frailty coded" not in reason
    ev = json.loads(listed["efi_13_housebound"]["evidence"])
    assert ev["efi_deficits"] == 13 and ev["efi"] == pytest.approx(13 / 36) and "severe_frailty_coded" not in ev
    assert "eFI" not in listed["frail_housebound"]["reason"]          # one deficit: frail by the code only


def test_efi_threshold_parameter_changes_the_answer(spec_record):
    chosen = {"efi_12_housebound", "efi_13_housebound"}
    low = SPEC.listed(spec_record, overrides={"efi_severe_above": 0.3})
    assert set(low) & chosen == {"efi_12_housebound", "efi_13_housebound"}
    high = SPEC.listed(spec_record, overrides={"efi_severe_above": 0.4})
    assert set(high) & chosen == set()


def test_unknown_or_mistyped_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter 'polypharmacy'"):
        COHORT.params({"polypharmacy": 8})
    with pytest.raises(ConfigError, match="must be a number"):
        COHORT.params({"egfr_below": "low"})


def test_explain_shows_current_values():
    text = COHORT.explain({"polypharmacy_min": 8})
    assert "polypharmacy (≥8 distinct medicines" in text and "polypharmacy_min = 8" in text
    assert "eFI >0.36" in text and "efi_severe_above = 0.36" in text


# --- a patient meeting everything but one rule is not listed -----------------------------------------
@pytest.mark.parametrize("pid,failing", [
    ("five_subgroups_but_smr_2_months_ago", "no_recent_smr"),
    ("five_subgroups_but_palliative", "not_palliative"),
    ("poly_9", "any_subgroup"),
])
def test_each_rule_failing_alone_unlists(evaluated, pid, failing):
    row = evaluated[pid]
    assert {c.name: row[c.name] for c in COHORT.criteria} == {c.name: c.name != failing for c in COHORT.criteria}
    assert (row["member"], row["band"], row["reason"], row["evidence"]) == (False, None, None, None)


def test_every_subgroup_alone_meets_any_subgroup(evaluated):
    """The third rule holds for each subgroup on its own (and the same patient minus it is not listed)."""
    for pid, subgroup in EXPECTED_SUBGROUP.items():
        assert evaluated[pid]["any_subgroup"] and evaluated[pid][subgroup], pid
    for pid in ("poly_9", "gi_p3a_aged_64", "frail_only", "one_addictive_issue", "efi_12_housebound"):
        assert not evaluated[pid]["any_subgroup"], pid


# --- band boundaries: n subgroups → band "n subgroups", order 6 − n ---------------------------------
@pytest.mark.parametrize("pid,n", [("poly_10", 1), ("two_subgroups", 2), ("three_subgroups", 3),
                                   ("four_subgroups", 4), ("five_subgroups", 5)])
def test_band_is_the_number_of_subgroups(listed, pid, n):
    row = listed[pid]
    assert (row["band"], row["band_order"]) == (ONE if n == 1 else f"{n} subgroups", 6 - n)
    assert len(row["subgroups"].split(", ")) == n and sum(row[s] for s in
                                                          ("care_home", "polypharmacy", "error_prone",
                                                           "frail_and_vulnerable", "addictive")) == n


def test_efi_exactly_at_the_threshold_is_not_severe(spec_record):
    """eFI > efi_severe_above: a patient whose eFI equals the threshold is not severely frail."""
    chosen = {"efi_12_housebound", "efi_13_housebound"}
    at = SPEC.listed(spec_record, overrides={"efi_severe_above": 12 / 36})
    assert set(at) & chosen == {"efi_13_housebound"}
    below = SPEC.listed(spec_record, overrides={"efi_severe_above": 11 / 36})
    assert set(below) & chosen == {"efi_12_housebound", "efi_13_housebound"}


# --- worklists must not change: reason and evidence as the record-based cohort wrote them ----------
GOLDEN = {
    'addictive_opioid_and_benzodiazepine': (
        '1 subgroup: addictive medicines (2 issues since 2025-03-31: benzodiazepine, opioid); no structured '
        'medication review since 2025-03-31.',
        '{"subgroups":"addictive","current_medicines":1,"efi":0.0,"efi_deficits":0,"addictive_issues":2,'
        '"addictive_classes":"benzodiazepine, opioid","age":50,"smr_window_start":"2025-03-31"}'),
    'care_home_nursing_code': (
        '1 subgroup: care home (residence code, nursing); no structured medication review since 2025-03-31.',
        '{"subgroups":"care_home","care_home_source":"residence code","setting":"nursing","current_medicines":0,'
        '"efi":0.027777777777777776,"efi_deficits":1,"age":50,"smr_window_start":"2025-03-31"}'),
    'efi_13_housebound': (
        '1 subgroup: frail and vulnerable (severe frailty by eFI 0.361 (13/36: activity limitation, anaemia, '
        'arthritis, chronic kidney disease, dizziness, dyspnoea, foot problems, fragility fracture, hearing '
        'impairment, heart valve disease, housebound, hypotension/syncope, memory/cognitive problems); housebound '
        '(coded 2019-01-01)); no structured medication review since 2025-03-31.',
        '{"subgroups":"frail_and_vulnerable","current_medicines":0,"efi":0.3611111111111111,"efi_deficits":13,'
        '"housebound_coded":"2019-01-01","age":50,"smr_window_start":"2025-03-31"}'),
    'five_subgroups': (
        '5 subgroups: care home (address flag); polypharmacy (10 current medicines: issued since 2025-12-31 or on a repeat authorisation still active); error-prone '
        'prescribing (GI_P3A aged 88 on oral NSAID (issued on 2026-02-28) without a PPI/H2RA since 2025-12-31); '
        'frail and vulnerable (severe frailty coded 2024-02-01; housebound (coded 2019-01-01)); addictive '
        'medicines (2 issues since 2025-03-31: opioid); no structured medication review since 2025-03-31.',
        '{"subgroups":"care_home, polypharmacy, error_prone, frail_and_vulnerable, addictive",'
        '"care_home_source":"address flag","setting":"unknown","current_medicines":10,"hazards":"GI_P3A",'
        '"nsaid_last_issued":"2026-02-28","severe_frailty_coded":"2024-02-01","efi":0.05555555555555555,'
        '"efi_deficits":2,"housebound_coded":"2019-01-01","addictive_issues":2,"addictive_classes":"opioid",'
        '"age":88,"smr_window_start":"2025-03-31"}'),
    'four_subgroups': (
        '4 subgroups: care home (address flag); polypharmacy (12 current medicines: issued since 2025-12-31 or on a repeat authorisation still active); error-prone '
        'prescribing (GI_P3A aged 70 on oral NSAID (issued on 2026-02-28) without a PPI/H2RA since 2025-12-31); '
        'addictive medicines (2 issues since 2025-03-31: opioid); no structured medication review since 2025-03-31.',
        '{"subgroups":"care_home, polypharmacy, error_prone, addictive","care_home_source":"address flag",'
        '"setting":"unknown","current_medicines":12,"hazards":"GI_P3A","nsaid_last_issued":"2026-02-28",'
        '"efi":0.027777777777777776,"efi_deficits":1,"addictive_issues":2,"addictive_classes":"opioid","age":70,'
        '"smr_window_start":"2025-03-31"}'),
    'frail_emergency_encounter_exactly_12_months_ago': (
        '1 subgroup: frail and vulnerable (severe frailty coded 2024-02-01; 1 emergency admission(s) since '
        '2025-03-31, latest 2025-03-31); no structured medication review since 2025-03-31.',
        '{"subgroups":"frail_and_vulnerable","current_medicines":0,"severe_frailty_coded":"2024-02-01","efi":0.0,'
        '"efi_deficits":0,"emergency_admissions":1,"last_emergency_admission":"2025-03-31","age":50,'
        '"smr_window_start":"2025-03-31"}'),
    'ki_p3k_egfr_44_and_nsaid': (
        '1 subgroup: error-prone prescribing (KI_P3K latest eGFR 44 on 2025-11-30 with oral NSAID (issued on '
        '2026-02-28)); no structured medication review since 2025-03-31.',
        '{"subgroups":"error_prone","current_medicines":1,"hazards":"KI_P3K","nsaid_last_issued":"2026-02-28",'
        '"egfr":44.0,"egfr_date":"2025-11-30","efi":0.0,"efi_deficits":0,"age":50,"smr_window_start":"2025-03-31"}'),
    'poly_10': (
        '1 subgroup: polypharmacy (10 current medicines: issued since 2025-12-31 or on a repeat authorisation still active); no structured medication review since '
        '2025-03-31.',
        '{"subgroups":"polypharmacy","current_medicines":10,"efi":0.027777777777777776,"efi_deficits":1,"age":50,'
        '"smr_window_start":"2025-03-31"}'),
    'poly_10_egfr_and_ppi': (
        '1 subgroup: polypharmacy (10 current medicines: issued since 2025-12-31 or on a repeat authorisation still active); no structured medication review since '
        '2025-03-31.',
        '{"subgroups":"polypharmacy","current_medicines":10,"ppi_h2ra_last_issued":"2026-02-28",'
        '"heart_failure_coded":"2020-01-01","egfr":44.0,"egfr_date":"2025-11-30","efi":0.05555555555555555,'
        '"efi_deficits":2,"age":50,"smr_window_start":"2025-03-31"}'),
    'poly_10_egfr_no_hazard_medicine': (
        '1 subgroup: polypharmacy (10 current medicines: issued since 2025-12-31 or on a repeat authorisation still active); no structured medication review since '
        '2025-03-31.',
        '{"subgroups":"polypharmacy","current_medicines":10,"efi":0.05555555555555555,"efi_deficits":2,"age":50,'
        '"smr_window_start":"2025-03-31"}'),
    'two_hazards_one_subgroup': (
        '1 subgroup: error-prone prescribing (GI_P3A aged 70 on oral NSAID (issued on 2026-02-28) without a '
        'PPI/H2RA since 2025-12-31; HF_P3I heart failure (coded 2020-01-01) with oral NSAID (issued on '
        '2026-02-28)); no structured medication review since 2025-03-31.',
        '{"subgroups":"error_prone","current_medicines":1,"hazards":"GI_P3A, HF_P3I",'
        '"nsaid_last_issued":"2026-02-28","heart_failure_coded":"2020-01-01","efi":0.027777777777777776,'
        '"efi_deficits":1,"age":70,"smr_window_start":"2025-03-31"}'),
}


@pytest.mark.parametrize("pid", list(GOLDEN))
def test_reason_and_evidence_unchanged_from_the_record_based_cohort(listed, pid):
    assert (listed[pid]["reason"], listed[pid]["evidence"]) == GOLDEN[pid]


# --- the clinical values in conf/cohorts/smr.yaml ----------------------------------------------------
def test_conf_holds_the_clinical_values():
    clinical_values(COHORT, {
        "min_age": (18, "age ≥ 18 unless a rule says otherwise"),
        "smr_window_months": (12, "structured medication review (1239511000000100) in the last 12 months"),
        "current_days": (90, "distinct medication codes issued in the last 90 days"),
        "polypharmacy_min": (10, "≥ 10 distinct medicines currently on"),
        "hazard_window_months": (3, "any PINCER hazard, 3-month windows"),
        "nsaid_elderly_age": (65, "age ≥ 65 on oral NSAID without PPI/H2RA (GI_P3A)"),
        "egfr_below": (45, "latest eGFR < 45 + oral NSAID (KI_P3K)"),
        "efi_severe_above": (0.36, "severe frailty (code 925861000000102 or eFI > 0.36)"),
        "vulnerable_window_months": (12, "emergency admission in 12 months, fall in 12 months"),
        "addictive_window_months": (12, "≥ 2 issues in 12 months of any opioid"),
        "addictive_min_issues": (2, "≥ 2 issues in 12 months of any opioid"),
    })
