"""Spec tests for CLINICAL_RULES §4a, possible undiagnosed AF: one tiny patient per rule, one answer each."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import AS_OF, HYPERTENSION, Population, months_ago
from engine.codes import RXNORM, SNOMED
from engine.cohorts.af_undiagnosed import COHORT
from engine.config import ConfigError
from spec import Spec, clinical_values, evaluate

RECENT = months_ago(2)
OLD = dt.date(2016, 3, 1)
ECG, DEVICE, PULSE, OAC = ("ECG AF or flutter", "device-detected AF", "irregular pulse",
                           "anticoagulant without recorded indication")

AF, AF_FLUTTER, AF_RESOLVED = (SNOMED, "49436004"), (SNOMED, "5370000"), (SNOMED, "196371000000102")
ECG_AF, ECG_FLUTTER, DEVICE_AF = (SNOMED, "164889003"), (SNOMED, "164890007"), (SNOMED, "1105331000000106")
PULSE_CODES = ("361137007", "61086009", "248651005", "248652003", "163000006")
DVT, PE, VALVE = (SNOMED, "128053003"), (SNOMED, "59282003"), (SNOMED, "84683006")
APIXABAN_DMD, EDOXABAN_DMD = (SNOMED, "703908001"), (SNOMED, "29903411000001101")
WARFARIN_RX, APIXABAN_RX = (RXNORM, "855332"), (RXNORM, "1364445")
RIVAROXABAN_RX, DABIGATRAN_RX = (RXNORM, "1232086"), (RXNORM, "1037045")
HEPARIN_RX = (RXNORM, "1659263")                 # an injection: not an oral anticoagulant
STROKE = (SNOMED, "230690007")

# patient id → expected band (None = must not be listed), with the record that earns it.
SPEC = Spec("af_undiagnosed", COHORT, sex="male")
case = SPEC.case


# --- each signal, and which band wins ------------------------------------------------------------
@case(ECG)
def ecg_af(p, pid): p.event(pid, ECG_AF, RECENT)
@case(ECG)
def ecg_flutter(p, pid): p.event(pid, ECG_FLUTTER, RECENT)
@case(DEVICE)
def device_detected(p, pid): p.event(pid, DEVICE_AF, RECENT)


for _code in PULSE_CODES:
    SPEC.add(f"irregular_pulse_{_code}", PULSE, lambda p, pid, code=_code: p.event(pid, (SNOMED, code), RECENT))


@case(ECG)
def pulse_then_ecg(p, pid):
    p.event(pid, (SNOMED, "361137007"), months_ago(5))
    p.event(pid, ECG_AF, months_ago(4))


@case(ECG)
def ecg_then_later_pulse(p, pid):
    p.event(pid, ECG_AF, months_ago(9))
    p.event(pid, (SNOMED, "361137007"), months_ago(1))


@case(DEVICE)
def pulse_and_device(p, pid):
    p.event(pid, (SNOMED, "61086009"), RECENT)
    p.event(pid, DEVICE_AF, months_ago(7))


@case(ECG)
def ecg_recorded_as_condition(p, pid): p.diagnosis(pid, ECG_AF, RECENT)


@case(ECG)
def signal_and_anticoagulant(p, pid):
    p.event(pid, ECG_AF, RECENT)
    p.medication(pid, APIXABAN_DMD, months_ago(1))


@case(PULSE)
def signal_with_dvt_history(p, pid):
    # an indication for anticoagulation does not explain an irregular pulse
    p.diagnosis(pid, DVT, OLD)
    p.event(pid, (SNOMED, "248651005"), RECENT)


# --- signal window -------------------------------------------------------------------------------
@case(ECG)
def ecg_exactly_12_months_ago(p, pid): p.event(pid, ECG_AF, months_ago(12))
@case(None)
def ecg_12_months_and_a_day_ago(p, pid): p.event(pid, ECG_AF, months_ago(12, days=1))
@case(ECG)
def ecg_on_as_of(p, pid): p.event(pid, ECG_AF, AS_OF)
@case(None)
def ecg_after_as_of(p, pid): p.event(pid, ECG_AF, AS_OF + dt.timedelta(days=1))
@case(None)
def ecg_entered_in_error(p, pid): p.event(pid, ECG_AF, RECENT, status="entered-in-error")
@case(None)
def ecg_refuted(p, pid): p.diagnosis(pid, ECG_AF, RECENT, status="refuted")


@case(PULSE)
def old_ecg_recent_pulse(p, pid):
    p.event(pid, ECG_AF, months_ago(13))
    p.event(pid, (SNOMED, "361137007"), RECENT)


# --- the AF register ------------------------------------------------------------------------------
@case(None)
def on_register_with_ecg(p, pid):
    p.diagnosis(pid, AF, OLD)
    p.event(pid, ECG_AF, RECENT)


@case(None)
def flutter_on_register_with_pulse(p, pid):
    p.diagnosis(pid, AF_FLUTTER, OLD)
    p.event(pid, (SNOMED, "361137007"), RECENT)


@case(ECG)
def af_resolved_by_code_then_ecg(p, pid):
    p.diagnosis(pid, AF, OLD)
    p.event(pid, AF_RESOLVED, OLD + dt.timedelta(days=500))
    p.event(pid, ECG_AF, RECENT)


@case(ECG)
def af_condition_resolved_then_ecg(p, pid):
    p.diagnosis(pid, AF, OLD)
    p.diagnosis(pid, AF, OLD + dt.timedelta(days=300), status="resolved")
    p.event(pid, ECG_AF, RECENT)


@case(None)
def af_rediagnosed_after_resolution(p, pid):
    p.diagnosis(pid, AF, OLD)
    p.event(pid, AF_RESOLVED, OLD + dt.timedelta(days=500))
    p.diagnosis(pid, AF, OLD + dt.timedelta(days=1000))
    p.event(pid, ECG_AF, RECENT)


@case(ECG)
def af_diagnosis_refuted(p, pid):
    p.diagnosis(pid, AF, OLD, status="refuted")
    p.event(pid, ECG_AF, RECENT)


@case(ECG)
def af_diagnosis_after_as_of(p, pid):
    p.diagnosis(pid, AF, AS_OF + dt.timedelta(days=1))
    p.event(pid, ECG_AF, RECENT)


# --- anticoagulant without a recorded indication -------------------------------------------------
@case(OAC)
def apixaban_dmd(p, pid): p.medication(pid, APIXABAN_DMD, RECENT)
@case(OAC)
def edoxaban_dmd(p, pid): p.medication(pid, EDOXABAN_DMD, RECENT)
@case(OAC)
def warfarin_rxnorm(p, pid): p.medication(pid, WARFARIN_RX, RECENT)
@case(OAC)
def apixaban_rxnorm(p, pid): p.medication(pid, APIXABAN_RX, RECENT)
@case(OAC)
def rivaroxaban_rxnorm(p, pid): p.medication(pid, RIVAROXABAN_RX, RECENT)
@case(OAC)
def dabigatran_rxnorm(p, pid): p.medication(pid, DABIGATRAN_RX, RECENT)
@case(None)
def heparin_injection_is_not_oral(p, pid): p.medication(pid, HEPARIN_RX, RECENT)
@case(OAC)
def issue_exactly_6_months_ago(p, pid): p.medication(pid, APIXABAN_DMD, months_ago(6))
@case(None)
def issue_6_months_and_a_day_ago(p, pid): p.medication(pid, APIXABAN_DMD, months_ago(6, days=1))
@case(None)
def issue_after_as_of(p, pid): p.medication(pid, APIXABAN_DMD, AS_OF + dt.timedelta(days=1))
@case(None)
def issue_entered_in_error(p, pid): p.medication(pid, APIXABAN_DMD, RECENT, status="entered-in-error")
@case(None)
def issue_cancelled(p, pid): p.medication(pid, APIXABAN_DMD, RECENT, status="cancelled")
@case(None)
def issue_draft(p, pid): p.medication(pid, APIXABAN_DMD, RECENT, status="draft")


# repeat authorisations (CLINICAL_RULES §0): a standing order in force is anticoagulation in the window
@case(OAC)
def standing_order_since_2019(p, pid): p.authorisation(pid, APIXABAN_DMD, dt.date(2019, 4, 1))
@case(OAC)
def authorisation_ended_in_window(p, pid):
    p.authorisation(pid, APIXABAN_DMD, dt.date(2019, 4, 1), end=months_ago(5), status="completed")
@case(None)
def authorisation_ended_before_window(p, pid):
    p.authorisation(pid, APIXABAN_DMD, dt.date(2019, 4, 1), end=months_ago(6, days=1), status="completed")
@case(None)
def authorisation_draft(p, pid): p.authorisation(pid, APIXABAN_DMD, dt.date(2019, 4, 1), status="draft")


@case(OAC)
def several_issues(p, pid):
    for months in (1, 2, 3):
        p.medication(pid, APIXABAN_DMD, months_ago(months))


@case(None)
def anticoagulant_with_dvt(p, pid):
    p.diagnosis(pid, DVT, OLD)
    p.medication(pid, APIXABAN_DMD, RECENT)


@case(None)
def anticoagulant_with_dvt_since_resolved(p, pid):
    p.diagnosis(pid, DVT, OLD)
    p.diagnosis(pid, DVT, OLD + dt.timedelta(days=120), status="resolved")
    p.medication(pid, APIXABAN_DMD, RECENT)


@case(OAC)
def anticoagulant_with_dvt_refuted(p, pid):
    p.diagnosis(pid, DVT, OLD, status="refuted")
    p.medication(pid, APIXABAN_DMD, RECENT)


@case(None)
def anticoagulant_with_pe(p, pid):
    p.diagnosis(pid, PE, OLD)
    p.medication(pid, RIVAROXABAN_RX, RECENT)


@case(None)
def anticoagulant_with_valve_replacement(p, pid):
    p.event(pid, VALVE, OLD, kind="procedure")
    p.medication(pid, WARFARIN_RX, RECENT)


@case(None)
def anticoagulant_with_resolved_af(p, pid):
    # not on the register, but AF was recorded: the anticoagulant has an indication
    p.diagnosis(pid, AF, OLD)
    p.event(pid, AF_RESOLVED, OLD + dt.timedelta(days=500))
    p.medication(pid, APIXABAN_DMD, RECENT)


@case(None)
def anticoagulant_with_af_resolved_code_only(p, pid):
    p.event(pid, AF_RESOLVED, OLD)
    p.medication(pid, APIXABAN_DMD, RECENT)


@case(OAC)
def anticoagulant_with_af_refuted(p, pid):
    p.diagnosis(pid, AF, OLD, status="refuted")
    p.medication(pid, APIXABAN_DMD, RECENT)


@case(OAC)
def anticoagulant_with_dvt_after_as_of(p, pid):
    p.diagnosis(pid, DVT, AS_OF + dt.timedelta(days=2))
    p.medication(pid, APIXABAN_DMD, RECENT)


@case(None)
def nothing_recorded(p, pid): p.diagnosis(pid, HYPERTENSION, OLD)


# --- eligibility ---------------------------------------------------------------------------------
def ecg(p, pid): p.event(pid, ECG_AF, RECENT)


SPEC.add("died_before_as_of", None, ecg, death_date=AS_OF - dt.timedelta(days=1))
SPEC.add("deceased_without_date", None, ecg, deceased=True)
SPEC.add("deregistered", None, ecg, registration_end=AS_OF - dt.timedelta(days=1))
SPEC.add("registers_after_as_of", None, ecg, registration_start=AS_OF + dt.timedelta(days=1))
SPEC.add("aged_17", None, ecg, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
SPEC.add("eighteenth_birthday_on_as_of", ECG, ecg, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day))


# --- CHA2DS2-VASc carried for ranking ------------------------------------------------------------
@case(ECG, sex="female", age=80)
def high_score(p, pid):
    p.diagnosis(pid, STROKE, OLD)
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.event(pid, ECG_AF, RECENT)


# --- tie-breaks: the strongest signal, then the latest, then code, then source_id -------------------
@case(ECG)
def ecg_af_and_flutter_same_day(p, pid):
    p.event(pid, ECG_FLUTTER, RECENT, source_id="Observation/a")
    p.event(pid, ECG_AF, RECENT, source_id="Observation/b")


@case(ECG)
def later_flutter_beats_earlier_ecg_af(p, pid):
    p.event(pid, ECG_AF, months_ago(8))
    p.event(pid, ECG_FLUTTER, months_ago(3))


@case(ECG)
def same_signal_twice_in_one_day(p, pid):
    p.event(pid, ECG_AF, RECENT)
    p.event(pid, ECG_AF, RECENT)


# --- tie-breaks: the latest anticoagulant issue, then source_id, then code ---------------------------
@case(OAC)
def two_issues_same_day(p, pid):
    p.medication(pid, WARFARIN_RX, RECENT, source_id="MedicationRequest/b")
    p.medication(pid, APIXABAN_DMD, RECENT, source_id="MedicationRequest/a")


@case(OAC)
def dual_coded_issue(p, pid):
    # one prescription coded in dm+d and RxNorm: one issue; the smaller code names it
    p.medication(pid, APIXABAN_DMD, RECENT, source_id="MedicationRequest/dual")
    p.medication(pid, APIXABAN_RX, RECENT, source_id="MedicationRequest/dual")


@case(OAC)
def latest_issue_named(p, pid):
    p.medication(pid, WARFARIN_RX, months_ago(4))
    p.medication(pid, APIXABAN_DMD, months_ago(1))
    p.medication(pid, WARFARIN_RX, months_ago(2))


# --- indications dated on the run date count; after it they do not ----------------------------------
@case(None)
def anticoagulant_with_dvt_on_as_of(p, pid):
    p.diagnosis(pid, DVT, AS_OF)
    p.medication(pid, APIXABAN_DMD, RECENT)


@case(None)
def anticoagulant_with_af_resolved_code_on_as_of(p, pid):
    p.event(pid, AF_RESOLVED, AS_OF)
    p.medication(pid, APIXABAN_DMD, RECENT)


@case(OAC)
def anticoagulant_with_valve_after_as_of(p, pid):
    p.event(pid, VALVE, AS_OF + dt.timedelta(days=1), kind="procedure")
    p.medication(pid, APIXABAN_DMD, RECENT)


@case(None)
def anticoagulant_with_dvt_entered_in_error_and_pe(p, pid):
    p.diagnosis(pid, DVT, OLD, status="entered-in-error")
    p.diagnosis(pid, PE, OLD)
    p.medication(pid, APIXABAN_DMD, RECENT)


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


def test_bands_and_their_worklist_order():
    shown = COHORT.band_labels(COHORT.params())
    assert list(zip(shown, COHORT.band_orders())) == [(ECG, 1), (DEVICE, 2), (PULSE, 3), (OAC, 4)]


def flags(evaluated, pid):
    return tuple(evaluated[pid][c.name] for c in COHORT.criteria)


@pytest.mark.parametrize("pid, expected", [
    ("on_register_with_ecg", (False, True, True)),               # not_on_register fails alone
    ("nothing_recorded", (True, False, True)),                   # signal_or_anticoagulant fails alone
    ("ecg_12_months_and_a_day_ago", (True, False, True)),
    ("issue_6_months_and_a_day_ago", (True, False, True)),
    ("anticoagulant_with_dvt", (True, True, False)),             # signal_or_no_indication fails alone
    ("anticoagulant_with_resolved_af", (True, True, False)),
    ("anticoagulant_with_valve_replacement", (True, True, False)),
    ("signal_with_dvt_history", (True, True, True)),
])
def test_each_criterion_failing_alone(evaluated, pid, expected):
    assert [c.name for c in COHORT.criteria] == ["not_on_register", "signal_or_anticoagulant",
                                                 "signal_or_no_indication"]
    assert flags(evaluated, pid) == expected
    assert evaluated[pid]["member"] is all(expected)


def test_ineligible_patients_are_not_evaluated(evaluated):
    for pid in ("aged_17", "deregistered", "registers_after_as_of", "died_before_as_of", "deceased_without_date"):
        assert pid not in evaluated


def test_reason_quotes_the_signal_date_and_score(listed):
    reason = listed["high_score"]["reason"]
    assert reason.startswith(f"ECG showing atrial fibrillation (SNOMED 164889003) on {RECENT.isoformat()} "
                             "(ECG AF or flutter); no AF diagnosis;")
    assert reason.endswith("CHA2DS2-VASc 6 (hypertension: 1, age 80: 2, stroke/TIA/thromboembolism: 2, female: 1).")
    device = listed["device_detected"]["reason"]
    assert device.startswith("Device-detected atrial fibrillation (SNOMED 1105331000000106)")
    assert "Irregular pulse (SNOMED 248652003)" in listed["irregular_pulse_248652003"]["reason"]
    assert "since resolved" in listed["af_resolved_by_code_then_ecg"]["reason"]
    both = listed["signal_and_anticoagulant"]["reason"]
    assert f"oral anticoagulant Apixaban 5mg tablets issued on {months_ago(1).isoformat()}" in both


def test_reason_whole_sentences(listed):
    day = RECENT.isoformat()
    assert listed["ecg_flutter"]["reason"] == (
        f"ECG showing atrial flutter (SNOMED 164890007) on {day} (ECG AF or flutter); no AF diagnosis; "
        "CHA2DS2-VASc 0.")
    assert listed["af_condition_resolved_then_ecg"]["reason"] == (
        f"ECG showing atrial fibrillation (SNOMED 164889003) on {day} (ECG AF or flutter); not on the AF register "
        "(AF last coded 2016-12-26, since resolved); CHA2DS2-VASc 0.")
    assert listed["apixaban_dmd"]["reason"] == (
        f"Oral anticoagulant Apixaban 5mg tablets issued on {day} with no recorded indication: no AF, DVT, PE or "
        "valve-replacement code; CHA2DS2-VASc 0.")


def test_reason_for_anticoagulant_only_names_the_medicine(listed):
    reason = listed["warfarin_rxnorm"]["reason"]
    assert reason.startswith(f"Oral anticoagulant Warfarin Sodium 5 MG Oral Tablet issued on {RECENT.isoformat()} "
                             "with no recorded indication: no AF, DVT, PE or valve-replacement code;")
    assert reason.endswith("CHA2DS2-VASc 0.")
    assert f"3 issues since {months_ago(6).isoformat()}" in listed["several_issues"]["reason"]
    assert listed["standing_order_since_2019"]["reason"].startswith(
        "Oral anticoagulant Apixaban 5mg tablets repeat authorised since 2019-04-01, still active (7 issues since "
        f"{months_ago(6).isoformat()}) with no recorded indication")


def test_strongest_then_latest_signal_is_quoted(listed):
    def chosen(pid):
        ev = json.loads(listed[pid]["evidence"])
        return ev["signal"], ev["signal_code"], ev["signal_date"]
    assert chosen("ecg_af_and_flutter_same_day") == ("ecg_af", "164889003", RECENT.isoformat())
    assert chosen("later_flutter_beats_earlier_ecg_af") == ("ecg_flutter", "164890007", months_ago(3).isoformat())
    assert chosen("ecg_then_later_pulse") == ("ecg_af", "164889003", months_ago(9).isoformat())
    assert chosen("pulse_and_device") == ("device", "1105331000000106", months_ago(7).isoformat())
    assert listed["later_flutter_beats_earlier_ecg_af"]["signal_date"] == months_ago(3)
    # the same code twice on one day is one entry among the signals
    assert json.loads(listed["same_signal_twice_in_one_day"]["evidence"])["signals"] == [
        {"date": RECENT.isoformat(), "code": "164889003", "signal": "ecg_af"}]


def test_latest_anticoagulant_issue_is_quoted(listed):
    same_day = listed["two_issues_same_day"]
    assert same_day["anticoagulant"] == "Apixaban 5mg tablets"              # source_id a before b
    assert f"(2 issues since {months_ago(6).isoformat()})" in same_day["reason"]
    dual = listed["dual_coded_issue"]
    assert (dual["anticoagulant"], json.loads(dual["evidence"])["anticoagulant_issues"]) == (
        "apixaban 5 MG Oral Tablet", 1)                                    # code 1364445 before 703908001
    assert "issues since" not in dual["reason"]
    latest = listed["latest_issue_named"]
    assert (latest["anticoagulant"], latest["anticoagulant_date"]) == ("Apixaban 5mg tablets", months_ago(1))


def test_evidence_is_json_with_codes_and_dates(listed):
    ev = json.loads(listed["pulse_then_ecg"]["evidence"])
    assert (ev["signal"], ev["signal_code"], ev["signal_date"]) == ("ecg_af", "164889003", months_ago(4).isoformat())
    assert [s["code"] for s in ev["signals"]] == ["361137007", "164889003"]
    assert ev["signal_window_start"] == months_ago(12).isoformat()
    oac = json.loads(listed["dabigatran_rxnorm"]["evidence"])
    assert (oac["anticoagulant_code"], oac["anticoagulant_issues"]) == ("1037045", 1)


def test_evidence_field_order_and_absent_fields(listed):
    # to_json leaves out null fields: an anticoagulant-only row has no signal fields, and the reverse
    signal_only = json.loads(listed["ecg_af"]["evidence"])
    assert list(signal_only) == [
        "signal", "signal_code", "signal_date", "signals", "signal_window_start", "anticoagulant_window_start",
        "cha2ds2_vasc", "chf_points", "hypertension_points", "age_points", "diabetes_points", "stroke_points",
        "vascular_points", "female_points"]
    oac_only = json.loads(listed["anticoagulant_with_dvt_refuted"]["evidence"])
    assert list(oac_only)[:6] == ["signal_window_start", "anticoagulant", "anticoagulant_code",
                                  "anticoagulant_date", "anticoagulant_issues", "anticoagulant_window_start"]
    both = json.loads(listed["signal_with_dvt_history"]["evidence"])
    assert both["dvt_pe_valve_last_coded"] == OLD.isoformat() and "af_last_coded" not in both
    resolved = json.loads(listed["af_resolved_by_code_then_ecg"]["evidence"])
    assert resolved["af_last_coded"] == (OLD + dt.timedelta(days=500)).isoformat()
    scored = json.loads(listed["high_score"]["evidence"])
    assert (scored["stroke_date"], scored["hypertension_date"], scored["female_points"]) == (
        OLD.isoformat(), OLD.isoformat(), 1)


def test_cha2ds2_vasc_column_for_ranking(listed):
    assert (listed["high_score"]["cha2ds2_vasc"], listed["ecg_af"]["cha2ds2_vasc"]) == (6, 0)
    assert listed["high_score"]["cha2ds2_vasc_factors"] == (
        "hypertension: 1, age 80: 2, stroke/TIA/thromboembolism: 2, female: 1")
    assert listed["ecg_af"]["cha2ds2_vasc_factors"] is None                # empty text is no text
    assert COHORT.rank == (("cha2ds2_vasc", True),)


ORDER = Spec("af_undiagnosed.order", COHORT)
for _pid, _sex, _age, _build in (  # added in an order that is not the answer
        ("w_oac_low", "male", 55, lambda p, pid: p.medication(pid, APIXABAN_DMD, RECENT)),
        ("w_pulse", "male", 55, lambda p, pid: p.event(pid, (SNOMED, "361137007"), RECENT)),
        ("w_ecg_tie_b", "male", 55, lambda p, pid: p.event(pid, ECG_AF, RECENT)),
        ("w_device_high", "female", 80, lambda p, pid: (p.event(pid, DEVICE_AF, RECENT),
                                                        p.diagnosis(pid, STROKE, OLD))),
        ("w_oac_high", "female", 85, lambda p, pid: p.medication(pid, WARFARIN_RX, RECENT)),
        ("w_ecg_tie_a", "male", 55, lambda p, pid: p.event(pid, ECG_FLUTTER, months_ago(6))),
        ("w_ecg_high", "female", 70, lambda p, pid: (p.event(pid, ECG_AF, months_ago(11)),
                                                     p.diagnosis(pid, HYPERTENSION, OLD))),
        ("w_not_listed", "female", 90, lambda p, pid: p.diagnosis(pid, HYPERTENSION, OLD))):
    ORDER.add(_pid, None, _build, sex=_sex, age=_age)


def test_worklist_order_band_then_score_then_patient_id(spec_record):
    wl = ORDER.worklist(spec_record).worklist
    got = list(zip(wl["patient_id"], wl["rank"], wl["band"], wl["cha2ds2_vasc"]))
    assert got == [("w_ecg_high", 1, ECG, 3), ("w_ecg_tie_a", 2, ECG, 0), ("w_ecg_tie_b", 3, ECG, 0),
                   ("w_device_high", 4, DEVICE, 5), ("w_pulse", 5, PULSE, 0), ("w_oac_high", 6, OAC, 3),
                   ("w_oac_low", 7, OAC, 0)]
    assert set(wl["pcn_id"]) == {"U00001"}


def test_a_signal_type_outside_the_bands_is_not_a_signal(spark, tmp_path):
    # its own record: the facts read this record's copy of the codelists, with a signal type added
    import shutil
    from engine.config import conf_dir
    lists = tmp_path / "codelists"
    shutil.copytree(conf_dir() / "codelists", lists)
    with (lists / "af_signals.csv").open("a", encoding="utf-8") as fh:
        fh.write("1234567,Holter monitor report (test),snomedct,holter\n")
    pop = Population()
    for pid in ("holter_only", "holter_and_pulse"):
        pop.patient(pid, sex="male")
        pop.event(pid, (SNOMED, "1234567"), months_ago(1))
    pop.event("holter_and_pulse", (SNOMED, "361137007"), months_ago(3))
    record = pop.record(spark)
    record.codelist_dir = lists
    rows = {r["patient_id"]: r for r in evaluate(COHORT, record, AS_OF).collect()}
    assert rows["holter_only"]["signal_or_anticoagulant"] is False
    assert rows["holter_and_pulse"]["band"] == PULSE
    ev = json.loads(rows["holter_and_pulse"]["evidence"])
    assert (ev["signal_code"], [s["code"] for s in ev["signals"]]) == ("361137007", ["361137007"])


def test_windows_are_parameters(spec_record):
    chosen = ("ecg_exactly_12_months_ago", "issue_6_months_and_a_day_ago", "pulse_then_ecg")
    rows = SPEC.listed(spec_record, overrides={"signal_window_months": 6, "anticoagulant_window_months": 7})
    got = {pid: r["band"] for pid, r in rows.items() if pid in chosen}
    assert got == {"issue_6_months_and_a_day_ago": OAC, "pulse_then_ecg": ECG}


def test_unknown_or_mistyped_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter 'signal_months'"):
        COHORT.params({"signal_months": 6})
    with pytest.raises(ConfigError, match="must be a whole number"):
        COHORT.params({"anticoagulant_window_months": "six"})
    with pytest.raises(ConfigError, match="must be a whole number"):
        COHORT.params({"signal_window_months": 0})


def test_explain_shows_current_values():
    text = COHORT.explain({"signal_window_months": 9})
    assert "in the last 9 months" in text and "signal_window_months = 9" in text


def test_conf_file_holds_the_clinical_values():
    clinical_values(COHORT, {
        "min_age": (18, "age ≥ 18 unless a rule says otherwise"),
        "signal_window_months": (12, "not on the AF register, and in the last 12 months any of"),
        "anticoagulant_window_months": (6, "OR an oral anticoagulant issued in 6 months"),
    })
    assert set(COHORT.params()) == set(COHORT.parameters)
