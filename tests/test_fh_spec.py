"""Spec tests for CLINICAL_RULES §5, possible familial hypercholesterolaemia: one tiny patient per rule.

Values are mmol/L as the engine sees them (ingest converts mg/dL; tests/test_units.py covers that).
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from builders import AS_OF, CHD, PAD, STROKE, months_ago
from engine.cohorts.fh import COHORT
from engine.codes import LOINC, SNOMED
from engine.config import ConfigError, load_facts_params
from spec import Spec, clinical_values, evaluate
from test_dlcn_spec import XANTHOMA, birthday, with_xanthoma_list

REFER, ASSESS = "refer for genetic testing", "assess"
TC, TC_LOINC = (SNOMED, "1005671000000105"), (LOINC, "2093-3")
LDL, LDL_LOINC = (SNOMED, "1022191000000100"), (LOINC, "18262-6")
FH = (SNOMED, "398036000")
RECENT = months_ago(3)

# patient id → expected band (None = must not be listed), with the record that earns it.
SPEC = Spec("fh", COHORT)
case = SPEC.case


def born(age):
    return dt.date(AS_OF.year - age, 1, 1)


# --- LDL-C > 4.9 ----------------------------------------------------------------------------------
@case(ASSESS)
def ldl_4_91(p, pid): p.event(pid, LDL, RECENT, 4.91)
@case(None)
def ldl_4_9(p, pid): p.event(pid, LDL, RECENT, 4.9)
@case(ASSESS)
def ldl_loinc_coded(p, pid): p.event(pid, LDL_LOINC, RECENT, 5.3)


# --- total cholesterol > 9.0 at any age -----------------------------------------------------------
@case(ASSESS, age=55)
def tc_9_01_at_55(p, pid): p.event(pid, TC, RECENT, 9.01)
@case(None, age=55)
def tc_9_0_at_55(p, pid): p.event(pid, TC, RECENT, 9.0)
@case(ASSESS, age=70)
def tc_loinc_coded_9_4(p, pid): p.event(pid, TC_LOINC, RECENT, 9.4)


# --- total cholesterol > 7.5 before age 30 (age on the day of the test) ---------------------------
@case(ASSESS, age=25)
def tc_7_51_at_25(p, pid): p.event(pid, TC, RECENT, 7.51)
@case(None, age=25)
def tc_7_5_at_25(p, pid): p.event(pid, TC, RECENT, 7.5)
@case(None, age=35)
def tc_8_at_35(p, pid): p.event(pid, TC, RECENT, 8.0)
@case(ASSESS, age=35)
def tc_8_day_before_30th_birthday(p, pid): p.event(pid, TC, birthday(born(35), 30, -1), 8.0)
@case(None, age=35)
def tc_8_at_35_after_7_at_29(p, pid):
    # the highest total cholesterol (8.0 at 35) is not the one measured before 30 (7.0)
    p.event(pid, TC, birthday(born(35), 29), 7.0)
    p.event(pid, TC, RECENT, 8.0)


@case(ASSESS, age=35)
def every_criterion_met(p, pid):
    # young: the highest before 30 (8.0 at 29), not the highest ever (9.2 at 34)
    p.event(pid, TC, birthday(born(35), 29, 10), 8.0)
    p.event(pid, TC, birthday(born(35), 28), 7.9)
    p.event(pid, TC, birthday(born(35), 34), 9.2)
    p.event(pid, LDL, RECENT, 5.0)


@case(None, age=35)
def tc_8_on_30th_birthday(p, pid): p.event(pid, TC, birthday(born(35), 30), 8.0)


# --- all time, highest value, valid rows only -----------------------------------------------------
@case(ASSESS)
def highest_not_latest(p, pid):
    p.event(pid, LDL, dt.date(2016, 5, 1), 5.6)
    p.event(pid, LDL, RECENT, 3.0)


@case(None)
def ldl_after_as_of(p, pid): p.event(pid, LDL, AS_OF + dt.timedelta(days=1), 6.0)
@case(None)
def ldl_entered_in_error(p, pid): p.event(pid, LDL, RECENT, 6.0, status="entered-in-error")
@case(None)
def normal_lipids(p, pid):
    p.event(pid, TC, RECENT, 5.2)
    p.event(pid, LDL, RECENT, 3.1)


@case(None)
def no_lipids(p, pid): pass


# --- FH code ---------------------------------------------------------------------------------------
@case(None)
def coded_fh(p, pid):
    p.diagnosis(pid, FH, dt.date(2015, 1, 1))
    p.event(pid, LDL, RECENT, 6.0)


@case(None)
def fh_code_since_resolved(p, pid):
    p.diagnosis(pid, FH, dt.date(2015, 1, 1))
    p.diagnosis(pid, FH, dt.date(2016, 1, 1), status="resolved")
    p.event(pid, LDL, RECENT, 6.0)


@case(ASSESS)
def fh_code_refuted(p, pid):
    p.diagnosis(pid, FH, dt.date(2015, 1, 1), status="refuted")
    p.event(pid, LDL, RECENT, 6.0)


@case(ASSESS)
def fh_code_after_as_of(p, pid):
    p.diagnosis(pid, FH, AS_OF + dt.timedelta(days=2))
    p.event(pid, LDL, RECENT, 6.0)


# --- band: DLCN > 5 ---------------------------------------------------------------------------------
@case(REFER)
def ldl_8_51(p, pid): p.event(pid, LDL, RECENT, 8.51)
@case(ASSESS)
def ldl_8_5(p, pid): p.event(pid, LDL, RECENT, 8.5)
@case(ASSESS)
def ldl_6_5_alone(p, pid): p.event(pid, LDL, RECENT, 6.5)


@case(REFER, sex="male", age=62)
def dlcn_6_ldl_6_5_premature_stroke(p, pid):
    p.event(pid, LDL, RECENT, 6.5)
    p.diagnosis(pid, STROKE, birthday(born(62), 50))


@case(ASSESS)
def equal_highest_ldl_latest_date(p, pid):
    p.event(pid, LDL, dt.date(2017, 5, 1), 5.6)
    p.event(pid, LDL, dt.date(2020, 5, 1), 5.6)
    p.event(pid, LDL, dt.date(2016, 5, 1), 5.6)


@case(REFER, sex="male", age=62)
def ldl_6_5_premature_chd(p, pid):
    p.event(pid, LDL, RECENT, 6.5)
    p.diagnosis(pid, CHD, birthday(born(62), 50))


@case(ASSESS, sex="male", age=62)
def ldl_6_45_premature_chd_gap_scores_3(p, pid):
    p.event(pid, LDL, RECENT, 6.45)
    p.diagnosis(pid, CHD, birthday(born(62), 50))


@case(ASSESS, sex="male", age=62)
def ldl_6_6_chd_at_55(p, pid):
    p.event(pid, LDL, RECENT, 6.6)
    p.diagnosis(pid, CHD, birthday(born(62), 55))


@case(REFER, sex="female", age=66)
def ldl_6_6_premature_pad_woman(p, pid):
    p.event(pid, LDL, RECENT, 6.6)
    p.diagnosis(pid, PAD, birthday(born(66), 58))


@case(ASSESS, sex="male", age=62)
def ldl_5_5_premature_chd_and_stroke_group_scores_once(p, pid):
    p.event(pid, LDL, RECENT, 5.5)
    p.diagnosis(pid, CHD, birthday(born(62), 50))
    p.diagnosis(pid, STROKE, birthday(born(62), 51))


@case(REFER)
def ldl_5_2_tendon_xanthoma(p, pid):
    p.event(pid, LDL, RECENT, 5.2)
    p.diagnosis(pid, XANTHOMA, dt.date(2021, 4, 1))


@case(ASSESS, age=45)
def tc_9_5_without_ldl(p, pid): p.event(pid, TC, RECENT, 9.5)
@case(ASSESS, age=45)
def tc_9_5_with_ldl_3(p, pid):
    p.event(pid, TC, RECENT, 9.5)
    p.event(pid, LDL, RECENT, 3.0)


# --- the value as the source recorded it (ingest keeps it beside the converted one) ---------------
def recorded(p, pid, coding, day, value, unit, mmol):
    """A result the source wrote as ``value unit`` that ingest converted to ``mmol`` mmol/L (rounded to 4
    decimals, as ingest does)."""
    p.event(pid, coding, day, round(mmol, 4), unit="mmol/L")
    p.rows["events"][-1].update(value_recorded=float(value), unit_recorded=unit)


@case(ASSESS)
def ldl_192_mg_dl(p, pid): recorded(p, pid, LDL_LOINC, RECENT, 192, "mg/dL", 192 * 0.02585984)
@case(ASSESS)
def ldl_5_2_recorded_in_mmol(p, pid): recorded(p, pid, LDL, RECENT, 5.2, "mmol/L", 5.2)
@case(ASSESS, age=50)
def tc_370_mg_dl_and_ldl_5_5_mmol(p, pid):
    recorded(p, pid, TC_LOINC, RECENT, 370, "mg/dL", 370 * 0.02585984)
    recorded(p, pid, LDL, RECENT, 5.5, "mmol/l", 5.5)


# --- eligibility ------------------------------------------------------------------------------------
@case(None, death_date=AS_OF - dt.timedelta(days=1))
def died(p, pid): p.event(pid, LDL, RECENT, 6.0)
@case(None, registration_end=AS_OF - dt.timedelta(days=1))
def deregistered(p, pid): p.event(pid, LDL, RECENT, 6.0)
@case(None, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day) + dt.timedelta(days=1))
def aged_17(p, pid): p.event(pid, TC, RECENT, 8.0)
@case(ASSESS, birth_date=dt.date(AS_OF.year - 18, AS_OF.month, AS_OF.day))
def eighteenth_birthday_on_as_of(p, pid): p.event(pid, TC, RECENT, 8.0)


XANTHOMA_CASES = ("ldl_5_2_tendon_xanthoma",)     # scored against the test copy of the codelists


@pytest.fixture(scope="module")
def considered(spark, spec_record, tmp_path_factory):
    rows = SPEC.evaluated(spec_record)
    record = with_xanthoma_list(spark, tmp_path_factory.mktemp("fh"), SPEC, XANTHOMA_CASES)
    rows.update({r["patient_id"]: r.asDict() for r in evaluate(COHORT, record, AS_OF).collect()})
    return rows


@pytest.fixture(scope="module")
def listed(considered):
    return {pid: row for pid, row in considered.items() if row["member"]}


@pytest.mark.parametrize("pid", list(SPEC.cases))
def test_rule(listed, pid):
    expected = SPEC.cases[pid].expected
    got = listed.get(pid, {}).get("band")
    assert got == expected, f"{pid}: expected {expected!r}, got {got!r}"


def test_dlcn(listed):
    assert listed["ldl_6_5_premature_chd"]["dlcn"] == 7
    assert listed["ldl_6_45_premature_chd_gap_scores_3"]["dlcn"] == 5
    assert listed["ldl_5_5_premature_chd_and_stroke_group_scores_once"]["dlcn"] == 5
    # the refer boundary: DLCN 6 refers, DLCN 5 does not
    assert listed["dlcn_6_ldl_6_5_premature_stroke"]["dlcn"] == 6 and listed["ldl_6_5_alone"]["dlcn"] == 5
    assert listed["ldl_4_91"]["dlcn"] == 1
    assert listed["tc_9_5_without_ldl"]["dlcn"] == 0 and listed["tc_9_5_without_ldl"]["max_ldl"] is None


def test_attrition_flags(considered):
    assert considered["coded_fh"]["not_coded_fh"] is False
    assert considered["no_lipids"]["cholesterol_recorded"] is False
    assert considered["normal_lipids"]["cholesterol_recorded"] is True
    assert considered["normal_lipids"]["cholesterol_raised"] is False
    assert "died" not in considered and "aged_17" not in considered


def flags(row) -> tuple:
    return tuple(row[c.name] for c in COHORT.criteria)


def test_each_criterion_failing_alone(considered):
    assert [c.name for c in COHORT.criteria] == ["not_coded_fh", "cholesterol_recorded", "cholesterol_raised"]
    assert flags(considered["coded_fh"]) == (False, True, True)
    assert considered["coded_fh"]["member"] is False
    # cholesterol_recorded cannot fail alone: with no result recorded nothing can be raised
    assert flags(considered["no_lipids"]) == (True, False, False)
    assert flags(considered["normal_lipids"]) == (True, True, False)
    assert flags(considered["tc_8_at_35_after_7_at_29"]) == (True, True, False)
    assert considered["normal_lipids"]["member"] is False


def test_reason_quotes_values_dates_and_the_lower_bound(listed):
    reason = listed["ldl_6_5_premature_chd"]["reason"]
    chd = birthday(born(62), 50).isoformat()
    assert reason.startswith(f"Highest recorded LDL-C 6.5 mmol/L on {RECENT.isoformat()} (> 4.9). "
                             "DLCN score at least 7 (> 5: refer for genetic testing) from LDL-C 6.5: 5, "
                             f"premature CHD (first code {chd}, age 50): 2 — a lower bound")
    assert "lower bound" in reason and "family history" in reason and reason.endswith("No FH diagnosis code.")
    young = listed["tc_8_day_before_30th_birthday"]["reason"]
    assert "total cholesterol 8 mmol/L on" in young and "at age 29 (> 7.5 under 30)" in young
    assert "(not above 5: assess)" in listed["ldl_4_91"]["reason"]
    # two decimals where the value has them: 4.91 must never read as 4.9 next to "> 4.9"
    assert "LDL-C 4.91 mmol/L on" in listed["ldl_4_91"]["reason"] and "from LDL-C 4.91: 1 —" in listed["ldl_4_91"]["reason"]
    assert "total cholesterol 7.51 mmol/L on" in listed["tc_7_51_at_25"]["reason"]


def test_reason_names_every_criterion_met(listed):
    pop_row = listed["tc_loinc_coded_9_4"]
    assert pop_row["criteria"] == f"total cholesterol 9.4 mmol/L on {RECENT.isoformat()} (> 9.0)"
    young, oldest = birthday(born(35), 29, 10).isoformat(), birthday(born(35), 34).isoformat()
    assert listed["every_criterion_met"]["criteria"] == (
        f"total cholesterol 8 mmol/L on {young} at age 29 (> 7.5 under 30); "
        f"total cholesterol 9.2 mmol/L on {oldest} (> 9.0); LDL-C 5 mmol/L on {RECENT.isoformat()} (> 4.9)")


def test_whole_reason_and_evidence(listed):
    row = listed["every_criterion_met"]
    young, oldest = birthday(born(35), 29, 10).isoformat(), birthday(born(35), 34).isoformat()
    assert row["reason"] == (
        f"Highest recorded total cholesterol 8 mmol/L on {young} at age 29 (> 7.5 under 30); total cholesterol "
        f"9.2 mmol/L on {oldest} (> 9.0); LDL-C 5 mmol/L on {RECENT.isoformat()} (> 4.9). DLCN score at least 3 "
        "(not above 5: assess) from LDL-C 5: 3 — a lower bound: family history, corneal arcus and DNA results "
        "are not in the record, and the highest LDL-C may be a treated value. No FH diagnosis code.")
    assert row["evidence"] == (
        f'{{"max_total_cholesterol":9.2,"max_total_cholesterol_date":"{oldest}",'
        f'"max_total_cholesterol_under_age":8.0,"max_total_cholesterol_under_age_date":"{young}",'
        f'"age_at_that_test":29,"max_ldl":5.0,"max_ldl_date":"{RECENT.isoformat()}","dlcn_lower_bound":3,'
        '"dlcn_ldl_points":3,"dlcn_history_points":0,"dlcn_exam_points":0,"unit":"mmol/L"}')


def test_evidence_is_json(listed):
    ev = json.loads(listed["highest_not_latest"]["evidence"])
    assert (ev["max_ldl"], ev["max_ldl_date"], ev["dlcn_lower_bound"], ev["unit"]) == (5.6, "2016-05-01", 3, "mmol/L")
    ev = json.loads(listed["ldl_6_6_premature_pad_woman"]["evidence"])
    assert (ev["first_vascular_age"], ev["dlcn_history_points"]) == (58, 1)
    ev = json.loads(listed["equal_highest_ldl_latest_date"]["evidence"])     # a tie: the latest date
    assert (ev["max_ldl"], ev["max_ldl_date"]) == (5.6, "2020-05-01")
    ev = json.loads(listed["ldl_5_2_tendon_xanthoma"]["evidence"])
    assert (ev["tendon_xanthoma_code"], ev["dlcn_exam_points"], ev["dlcn_lower_bound"]) == ("2021-04-01", 6, 9)


def test_thresholds_are_parameters(spec_record):
    chosen = ("ldl_4_9", "ldl_4_91", "ldl_6_5_alone", "tc_8_at_35")
    rows = SPEC.listed(spec_record, overrides={"ldl_above": 4.8, "tc_young_age_below": 40, "dlcn_refer_above": 4})
    got = {pid: r["band"] for pid, r in rows.items() if pid in chosen}
    assert got == {"ldl_4_9": ASSESS, "ldl_4_91": ASSESS, "ldl_6_5_alone": REFER, "tc_8_at_35": ASSESS}


def test_unknown_or_mistyped_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter 'ldl_over'"):
        COHORT.params({"ldl_over": 5.0})
    with pytest.raises(ConfigError, match="must be a number"):
        COHORT.params({"dlcn_refer_above": "five"})


def test_explain_shows_current_values():
    text = COHORT.explain({"ldl_above": 5.5, "dlcn_refer_above": 6}, load_facts_params())
    assert "LDL-C > 5.5" in text and "DLCN > 6 → refer" in text and "ldl_above = 5.5" in text
    assert "lower bound" in text
    # the DLCN thresholds come from conf/facts.yaml
    assert "highest LDL-C > 8.5 → 8, ≥ 6.5 → 5, ≥ 5.0 → 3, ≥ 4.0 → 1" in text and "before 55 in men, 60 in women" in text


# --- the worklist: ranked per PCN by band, DLCN (desc), highest LDL-C (desc), then patient_id -------
ORDER = Spec("fh.order", COHORT, sex="male", age=62)     # added in an order that is not the expected one
ORDER.add("a_tie_b", None, lambda p, pid: p.event(pid, LDL, RECENT, 5.2))
ORDER.add("a_null_ldl", None, lambda p, pid: (p.event(pid, TC, RECENT, 9.5),
                                              p.diagnosis(pid, STROKE, birthday(born(62), 50))))
ORDER.add("a_ldl_4_91", None, lambda p, pid: p.event(pid, LDL, RECENT, 4.91))
ORDER.add("a_ldl_5_9", None, lambda p, pid: p.event(pid, LDL, RECENT, 5.9))
ORDER.add("r_dlcn_7", None, lambda p, pid: (p.event(pid, LDL, RECENT, 6.5),
                                            p.diagnosis(pid, CHD, birthday(born(62), 50))))
ORDER.add("a_tie_a", None, lambda p, pid: p.event(pid, LDL, dt.date(2019, 1, 1), 5.2))
ORDER.add("a_dlcn_4_ldl_5", None, lambda p, pid: (p.event(pid, LDL, RECENT, 5.0),
                                                  p.diagnosis(pid, PAD, birthday(born(62), 50))))
ORDER.add("z_other_pcn", None, lambda p, pid: p.event(pid, LDL, RECENT, 5.0), practice="B20002")
ORDER.add("a_dlcn_5", None, lambda p, pid: p.event(pid, LDL, RECENT, 6.6))
ORDER.add("r_ldl_8_6", None, lambda p, pid: p.event(pid, LDL, RECENT, 8.6))
ORDER.add("x_coded_fh", None, lambda p, pid: (p.event(pid, LDL, RECENT, 9.0),
                                              p.diagnosis(pid, FH, dt.date(2015, 1, 1))))


def test_worklist_order(spec_record):
    df = ORDER.worklist(spec_record).worklist
    got = [(r["pcn_id"], r["rank"], r["patient_id"], r["band"], r["dlcn"]) for r in df.to_dict("records")]
    assert got == [
        ("U00001", 1, "r_ldl_8_6", REFER, 8),
        ("U00001", 2, "r_dlcn_7", REFER, 7),
        ("U00001", 3, "a_dlcn_5", ASSESS, 5),
        ("U00001", 4, "a_dlcn_4_ldl_5", ASSESS, 4),      # DLCN before LDL-C
        ("U00001", 5, "a_ldl_5_9", ASSESS, 3),
        ("U00001", 6, "a_tie_a", ASSESS, 3),             # same DLCN and LDL-C: patient_id
        ("U00001", 7, "a_tie_b", ASSESS, 3),
        ("U00001", 8, "a_ldl_4_91", ASSESS, 1),
        ("U00001", 9, "a_null_ldl", ASSESS, 1),          # no LDL-C ranks last
        ("UNASSIGNED", 1, "z_other_pcn", ASSESS, 3),
    ]


# --- the YAML holds the clinical values ------------------------------------------------------------
CLINICAL_VALUES = {       # yaml key → (value, a quote from CLINICAL_RULES.md stating it)
    "min_age": (18, "age ≥ 18 unless a rule says otherwise"),
    "tc_young_above": (7.5, "total cholesterol > 7.5 (age < 30 at the test)"),
    "tc_young_age_below": (30, "total cholesterol > 7.5 (age < 30 at the test)"),
    "tc_any_age_above": (9.0, "or > 9.0 (any age)"),
    "ldl_above": (4.9, "LDL-C > 4.9 [Simon Broome adult criterion]"),
    "dlcn_refer_above": (5, 'Band: DLCN > 5 ("refer for genetic testing")'),
}


def test_clinical_values_match_clinical_rules():
    clinical_values(COHORT, CLINICAL_VALUES)


# --- the reason a GP can check against the lab report ----------------------------------------------
def test_reason_quotes_the_value_as_recorded_beside_the_converted_one(listed):
    day = RECENT.isoformat()
    assert listed["ldl_192_mg_dl"]["criteria"] == f"LDL-C 192 mg/dL = 4.97 mmol/L on {day} (> 4.9)"
    assert listed["ldl_192_mg_dl"]["reason"].startswith(
        f"Highest recorded LDL-C 192 mg/dL = 4.97 mmol/L on {day} (> 4.9). DLCN score at least 1 "
        "(not above 5: assess) from LDL-C 4.97: 1 — a lower bound")
    # recorded in mmol/L (any spelling): the value once, no "="
    assert listed["ldl_5_2_recorded_in_mmol"]["criteria"] == f"LDL-C 5.2 mmol/L on {day} (> 4.9)"
    assert listed["tc_370_mg_dl_and_ldl_5_5_mmol"]["criteria"] == (
        f"total cholesterol 370 mg/dL = 9.57 mmol/L on {day} (> 9.0); LDL-C 5.5 mmol/L on {day} (> 4.9)")


def test_reason_lists_dlcn_components_with_points_after_a_colon(listed):
    def parts(pid):
        reason = listed[pid]["reason"]
        return reason[reason.index(" from ") + 6:reason.index(" — a lower bound")]
    stroke = birthday(born(62), 50).isoformat()
    assert parts("dlcn_6_ldl_6_5_premature_stroke") == (
        f"LDL-C 6.5: 5, premature cerebral/peripheral vascular disease (first code {stroke}, age 50): 1")
    assert parts("ldl_8_51") == "LDL-C 8.51: 8"
    assert parts("ldl_8_5") == "LDL-C 8.5: 5"
    assert parts("ldl_6_45_premature_chd_gap_scores_3").startswith("LDL-C 6.45: 3, premature CHD (first code ")
    assert parts("ldl_5_2_tendon_xanthoma") == "LDL-C 5.2: 3, tendon xanthoma (coded 2021-04-01): 6"
    assert parts("tc_9_5_without_ldl") == "no LDL-C recorded: 0"
    assert parts("tc_9_5_with_ldl_3") == "LDL-C 3: 0"


def test_reason_from_an_extract_recorded_in_mg_dl(spark, tmp_path):
    """End to end: a GP extract's LDL-C of 192 mg/dL is converted at ingest and quoted as recorded."""
    from engine.ingest import ingest
    from engine.record import Record
    from test_ingest import _conf

    src = tmp_path / "in"
    src.mkdir()
    (src / "practices.csv").write_text("practice_id,practice_name,pcn_id,pcn_name\nA10001,Surgery,U00001,PCN\n")
    (src / "patients.csv").write_text(
        "patient_id,nhs_number,given_name,family_name,birth_date,sex,death_date,lsoa_code,practice_id,"
        "registration_start,registration_end,care_home\np1,9990000018,A,B,1970-01-01,male,,,A10001,2001-01-01,,\n")
    (src / "events.csv").write_text("event_id,patient_id,date,system,code,display,value,unit,kind,status\n"
                                    f"e1,p1,{RECENT.isoformat()},loinc,18262-6,LDL,192,mg/dL,observation,final\n")
    cl, imd = _conf(tmp_path)
    result = ingest(spark, src, "gp-extract", tmp_path / "out", codelist_dir=cl, imd_path=imd)
    (row,) = evaluate(COHORT, Record.from_tables(result.tables), AS_OF).where("member").collect()
    assert row["criteria"] == f"LDL-C 192 mg/dL = 4.97 mmol/L on {RECENT.isoformat()} (> 4.9)"
