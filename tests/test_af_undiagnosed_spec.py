"""Spec tests for CLINICAL_RULES §4a, possible undiagnosed AF: one tiny patient per rule, one answer each."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import AS_OF, HYPERTENSION, Population, months_ago
from engine.codes import RXNORM, SNOMED
from engine.cohorts.af_undiagnosed import COHORT
from engine.config import ConfigError

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
CASES: dict = {}
PATIENT_ATTRS: dict = {}


def named(pid: str, expected, build, **attrs) -> None:
    CASES[pid] = (expected, build)
    PATIENT_ATTRS[pid] = attrs


def case(expected, **attrs):
    def register(build):
        named(build.__name__, expected, build, **attrs)
        return build
    return register


# --- each signal, and which band wins ------------------------------------------------------------
@case(ECG)
def ecg_af(p, pid): p.event(pid, ECG_AF, RECENT)
@case(ECG)
def ecg_flutter(p, pid): p.event(pid, ECG_FLUTTER, RECENT)
@case(DEVICE)
def device_detected(p, pid): p.event(pid, DEVICE_AF, RECENT)


for _code in PULSE_CODES:
    named(f"irregular_pulse_{_code}", PULSE, lambda p, pid, code=_code: p.event(pid, (SNOMED, code), RECENT))


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


named("died_before_as_of", None, ecg, death_date=AS_OF - dt.timedelta(days=1))
named("deceased_without_date", None, ecg, deceased=True)
named("deregistered", None, ecg, registration_end=AS_OF - dt.timedelta(days=1))
named("registers_after_as_of", None, ecg, registration_start=AS_OF + dt.timedelta(days=1))
named("aged_17", None, ecg, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
named("eighteenth_birthday_on_as_of", ECG, ecg, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day))


# --- CHA2DS2-VASc carried for ranking ------------------------------------------------------------
@case(ECG, sex="female", age=80)
def high_score(p, pid):
    p.diagnosis(pid, STROKE, OLD)
    p.diagnosis(pid, HYPERTENSION, OLD)
    p.event(pid, ECG_AF, RECENT)


def build(cases=CASES):
    pop = Population()
    for pid, (_, builder) in cases.items():
        pop.patient(pid, **{"sex": "male", "age": 55, **PATIENT_ATTRS.get(pid, {})})
        builder(pop, pid)
    return pop


@pytest.fixture(scope="module")
def evaluated(spark):
    return {r["patient_id"]: r.asDict() for r in COHORT.evaluate(build().record(spark), AS_OF).collect()}


@pytest.fixture(scope="module")
def listed(evaluated):
    return {pid: row for pid, row in evaluated.items() if row["member"]}


@pytest.mark.parametrize("pid", list(CASES))
def test_rule(listed, pid):
    expected = CASES[pid][0]
    got = listed.get(pid, {}).get("band")
    assert got == expected, f"{pid}: expected {expected!r}, got {got!r}"


def test_band_order_follows_the_bands(listed):
    order = {ECG: 1, DEVICE: 2, PULSE: 3, OAC: 4}
    assert all(row["band_order"] == order[row["band"]] for row in listed.values())


def test_each_rule_flag_for_near_misses(evaluated):
    assert evaluated["on_register_with_ecg"]["not_on_register"] is False
    assert evaluated["ecg_12_months_and_a_day_ago"]["signal_or_anticoagulant"] is False
    row = evaluated["anticoagulant_with_dvt"]
    flags = (row["not_on_register"], row["signal_or_anticoagulant"], row["signal_or_no_indication"])
    assert flags == (True, True, False)
    assert "aged_17" not in evaluated and "deregistered" not in evaluated


def test_every_rule_flag_true_for_members(listed):
    for row in listed.values():
        assert all(row[r.column] for r in COHORT.rules)


def test_reason_quotes_the_signal_date_and_score(listed):
    reason = listed["high_score"]["reason"]
    assert reason.startswith(f"ECG showing atrial fibrillation (SNOMED 164889003) on {RECENT.isoformat()} "
                             "(ECG AF or flutter); no AF diagnosis;")
    assert reason.endswith("CHA2DS2-VASc 6 (hypertension, age 80 (2), stroke/TIA/thromboembolism (2), female).")
    device = listed["device_detected"]["reason"]
    assert device.startswith("Device-detected atrial fibrillation (SNOMED 1105331000000106)")
    assert "Irregular pulse (SNOMED 248652003)" in listed["irregular_pulse_248652003"]["reason"]
    assert "since resolved" in listed["af_resolved_by_code_then_ecg"]["reason"]
    both = listed["signal_and_anticoagulant"]["reason"]
    assert f"oral anticoagulant Apixaban 5mg tablets issued on {months_ago(1).isoformat()}" in both


def test_reason_for_anticoagulant_only_names_the_medicine(listed):
    reason = listed["warfarin_rxnorm"]["reason"]
    assert reason.startswith(f"Oral anticoagulant Warfarin Sodium 5 MG Oral Tablet issued on {RECENT.isoformat()} "
                             "with no recorded indication: no AF, DVT, PE or valve-replacement code;")
    assert reason.endswith("CHA2DS2-VASc 0.")
    assert f"3 issues since {months_ago(6).isoformat()}" in listed["several_issues"]["reason"]


def test_evidence_is_json_with_codes_and_dates(listed):
    ev = json.loads(listed["pulse_then_ecg"]["evidence"])
    assert (ev["signal"], ev["signal_code"], ev["signal_date"]) == ("ecg_af", "164889003", months_ago(4).isoformat())
    assert [s["code"] for s in ev["signals"]] == ["361137007", "164889003"]
    assert ev["signal_window_start"] == months_ago(12).isoformat()
    oac = json.loads(listed["dabigatran_rxnorm"]["evidence"])
    assert (oac["anticoagulant_code"], oac["anticoagulant_issues"]) == ("1037045", 1)


def test_cha2ds2_vasc_column_for_ranking(listed):
    assert (listed["high_score"]["cha2ds2_vasc"], listed["ecg_af"]["cha2ds2_vasc"]) == (6, 0)
    assert COHORT.rank == (("cha2ds2_vasc", True),)


def test_windows_are_parameters(spark):
    chosen = {k: CASES[k] for k in ("ecg_exactly_12_months_ago", "issue_6_months_and_a_day_ago", "pulse_then_ecg")}
    rows = COHORT.evaluate(build(chosen).record(spark), AS_OF,
                           overrides={"signal_window_months": 6, "anticoagulant_window_months": 7}).where("member")
    got = {r["patient_id"]: r["band"] for r in rows.collect()}
    assert got == {"issue_6_months_and_a_day_ago": OAC, "pulse_then_ecg": ECG}


def test_unknown_or_mistyped_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter 'signal_months'"):
        COHORT.params({"signal_months": 6})
    with pytest.raises(ConfigError, match="must be a number"):
        COHORT.params({"anticoagulant_window_months": "six"})


def test_explain_shows_current_values():
    text = COHORT.explain({"signal_window_months": 9})
    assert "in the last 9 months" in text and "signal_window_months = 9" in text


def test_conf_file_holds_every_default_with_its_clinical_value():
    import yaml
    from engine.config import conf_dir
    from engine.cohorts.af_undiagnosed import DEFAULTS
    assert yaml.safe_load((conf_dir() / "cohorts" / "af_undiagnosed.yaml").read_text()) == DEFAULTS
