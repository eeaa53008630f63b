"""Spec tests for CLINICAL_RULES §9, inequalities worklist: Core20PLUS patients with an open
case-finding need, ranked by equity-weighted priority, capped so weighting never crosses a band."""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
import yaml

from builders import AS_OF, months_ago
from engine.codes import SNOMED
from engine.cohorts import COHORTS
from engine.config import ConfigError
from engine.pseudonym import Pseudonymiser
from engine.worklists.build import LEADING, CohortResult
from engine.worklists.inequalities import (COLUMNS, DEFAULTS, check_bands, core20, equity_priority,
                                           inequalities_worklist, load_params, write_inequalities)
from spec import Spec

LD, SMI = (SNOMED, "416075005"), (SNOMED, "58214004")
PCN = "U00001"
HF_URGENT = "urgent — specialist and echo within 2 weeks"

# patient id → (IMD decile, ethnic group, register codes, [(cohort, band, rank in its worklist)])
PATIENTS = {
    "sev_plain":      (5, "White", [], [("hypertension", "severe", 1)]),            # not Core20PLUS
    "sev_core20":     (1, "White", [], [("hypertension", "severe", 2)]),
    "hf_core20":      (2, "White", [], [("heart_failure", HF_URGENT, 1)]),
    "s2_core20plus":  (1, "Black", [], [("hypertension", "stage 2", 3), ("heart_failure", "loop diuretic without heart failure diagnosis", 3)]),
    "af_smi":         (7, "White", [SMI], [("af_anticoagulation", "not anticoagulated", 1)]),
    "s1_core20plus":  (2, "Asian", [], [("hypertension", "stage 1", 4)]),
    "s1_core20":      (1, "White", [], [("hypertension", "stage 1", 5)]),
    "s1_ld":          (5, "White", [LD], [("hypertension", "stage 1", 6)]),
    "s1_mixed":       (6, "Mixed", [], [("hypertension", "stage 1", 7)]),
    "s1_decile3":     (3, "White", [], [("hypertension", "stage 1", 8)]),          # decile 3: not Core20
    "s1_smi_resolved": (5, "White", ["smi_resolved"], [("hypertension", "stage 1", 9)]),
    "s1_unknown_eth": (5, None, [], [("hypertension", "stage 1", 10)]),            # unknown is not PLUS
    "ld_no_need":     (1, "Black", [LD], []),                                        # no open need
}


SPEC = Spec("inequalities", age=60)


def patient(decile, registers):
    def build(p, pid):
        # Population.patient() always writes decile 5
        next(r for r in p.rows["patients"] if r["patient_id"] == pid)["imd_decile"] = decile
        for reg in registers:
            if reg == "smi_resolved":
                p.diagnosis(pid, SMI, months_ago(36))
                p.diagnosis(pid, SMI, months_ago(12), status="resolved")
            else:
                p.diagnosis(pid, reg, months_ago(24))
    return build


for _pid, (_decile, _group, _registers, _) in PATIENTS.items():
    SPEC.add(_pid, None, patient(_decile, _registers), ethnicity_group=_group)


@pytest.fixture(scope="module")
def results():
    """The case-finding worklists, as hand-written rows. The record is read only for the PLUS registers,
    by patient id, so the rows carry the shared record's ids; their PCN is their own."""
    lists: dict[str, list[dict]] = {}
    for pid, (decile, group, _, needs) in PATIENTS.items():
        for cohort, band, rank in needs:
            lists.setdefault(cohort, []).append({
                "rank": rank, "patient_id": SPEC.prefix + pid, "nhs_number": "9990000018",
                "name": f"{pid.upper()}, Test", "birth_date": "1966-01-01", "age": 60, "sex": "female",
                "practice_id": "A10001", "pcn_id": PCN, "band": band, "reason": f"{cohort} reason",
                "ethnicity_group": group, "imd_decile": decile})
    return [CohortResult(COHORTS[c], pd.DataFrame(rows), []) for c, rows in lists.items()]


def ranked(record, results, params=None):
    """The inequalities worklist with the test's own patient ids."""
    df = inequalities_worklist(results, record, AS_OF, params)
    df["patient_id"] = df["patient_id"].str.removeprefix(SPEC.prefix)
    return df


@pytest.fixture(scope="module")
def worklist(spec_record, results):
    return ranked(spec_record, results)


def row(df, pid):
    r = df[df.patient_id == pid]
    assert len(r) == 1, pid
    return r.iloc[0]


def order(df):
    return list(df.patient_id)


# --- who is listed ------------------------------------------------------------------------------------
def test_core20_is_imd_decile_1_or_2():
    p = load_params()
    assert [core20(d, p) for d in (1, 2, 3, 10, None, float("nan"))] == [True, True, False, False, False, False]


def test_only_core20plus_patients_with_an_open_need(worklist):
    assert set(worklist.patient_id) == {"sev_core20", "hf_core20", "s2_core20plus", "af_smi", "s1_core20plus",
                                        "s1_core20", "s1_ld", "s1_mixed"}


def test_core20_and_plus_flags_and_reasons(worklist):
    assert row(worklist, "sev_core20")["core20"] and row(worklist, "sev_core20")["plus_reasons"] == ""
    assert row(worklist, "s1_core20plus")["plus_reasons"] == "ethnic group Asian"
    assert row(worklist, "s1_ld")["plus_reasons"] == "learning disability register"
    assert not row(worklist, "s1_ld")["core20"]
    assert row(worklist, "af_smi")["plus_reasons"] == "severe mental illness register"
    assert row(worklist, "s1_mixed")["plus_reasons"] == "ethnic group Mixed"
    assert row(worklist, "s2_core20plus")["plus_reasons"] == "ethnic group Black"


def test_row_columns_needs_and_reason(worklist):
    assert list(worklist.columns) == COLUMNS and COLUMNS[:len(LEADING)] == list(LEADING)
    r = row(worklist, "s2_core20plus")
    assert r["needs"] == "hypertension: stage 2; heart_failure: loop diuretic without heart failure diagnosis"
    assert r["band"] == "hypertension: stage 2"
    assert r["clinical_priority"] == 80
    assert r["reason"] == ("Core20 (IMD decile 1) and PLUS (ethnic group Black) with 2 open case-finding needs; "
                           "most urgent hypertension: stage 2 (clinical priority 80; equity-weighted 99.99, "
                           "capped below the next clinical band).")
    assert "urgent band" in row(worklist, "hf_core20")["reason"]
    assert list(worklist["rank"]) == list(range(1, len(worklist) + 1))


# --- equity weighting and the cap ---------------------------------------------------------------------
def test_equity_weighting_formula():
    p = load_params()
    assert equity_priority(100, True, False, p) == (125.0, False)        # top band: nothing above to cap at
    assert equity_priority(100, True, True, p) == (156.25, False)
    assert equity_priority(80, True, False, p) == (99.99, True)          # 100 would reach the urgent band
    assert equity_priority(40, False, False, p) == (40.0, False)
    assert equity_priority(40, True, True, p) == (49.99, True)           # 62.5 → below the 50 band


def test_ranking_default_weights(worklist):
    assert order(worklist) == ["hf_core20", "sev_core20",              # urgent: 125 each, then source rank
                               "s2_core20plus", "af_smi",              # 80 band, both capped at 99.99; 125 > 100
                               "s1_core20plus",                        # 40 band, 62.5 uncapped beats 50
                               "s1_core20", "s1_ld", "s1_mixed"]       # 50 each: source rank


def test_weighted_non_urgent_never_above_urgent_even_with_heavy_weights(spec_record, results):
    heavy = ranked(spec_record, results, {"w_core20": 1.0, "w_plus": 1.0})
    urgent = {"sev_core20", "hf_core20"}
    # Uncapped, stage 2 Core20 PLUS would be 80 × 2 × 2 = 320, above a Core20-only urgent patient (200).
    assert set(order(heavy)[:2]) == urgent
    assert row(heavy, "s2_core20plus")["equity_priority"] == 99.99
    assert row(heavy, "sev_core20")["equity_priority"] == 200
    for pid in set(heavy.patient_id) - urgent:
        assert row(heavy, pid)["equity_priority"] < min(row(heavy, u)["equity_priority"] for u in urgent)
    # Weighting only reorders within a clinical priority: the list stays sorted by clinical priority.
    assert list(heavy.clinical_priority) == sorted(heavy.clinical_priority, reverse=True)


def test_parameters_change_the_answer(spec_record, results):
    no_core20_weight = ranked(spec_record, results, {"w_core20": 0})
    assert order(no_core20_weight)[-3:] == ["s1_ld", "s1_mixed", "s1_core20"]  # Core20 alone: 40, below PLUS 50
    assert row(no_core20_weight, "s1_core20")["equity_priority"] == 40
    plus_heavier = ranked(spec_record, results, {"w_plus": 0.5})
    assert order(plus_heavier)[-3:] == ["s1_ld", "s1_mixed", "s1_core20"]     # PLUS 60 now beats Core20 50
    wider = ranked(spec_record, results, {"core20_deciles": [1, 2, 3]})
    assert "s1_decile3" in set(wider.patient_id)
    no_registers = ranked(spec_record, results, {"plus_registers": []})
    assert {"s1_ld", "af_smi"}.isdisjoint(no_registers.patient_id)
    priority = {**DEFAULTS["clinical_priority"], "af_anticoagulation": {"not anticoagulated": 60}}
    rescored = ranked(spec_record, results, {"clinical_priority": priority})
    assert row(rescored, "af_smi")["clinical_priority"] == 60
    only_hf = ranked(spec_record, results, {"cohorts": ["heart_failure"]})
    assert order(only_hf) == ["hf_core20", "s2_core20plus"]
    assert row(only_hf, "s2_core20plus")["band"] == "heart_failure: loop diuretic without heart failure diagnosis"


# --- configuration ------------------------------------------------------------------------------------
def test_yaml_equals_defaults():
    conf = Path(__file__).resolve().parents[1] / "conf" / "inequalities.yaml"
    assert yaml.safe_load(conf.read_text(encoding="utf-8")) == DEFAULTS


def test_every_band_the_cohorts_can_produce_has_a_score():
    """The bands come from the declarations: each has a clinical-priority score, and no score names a
    band a cohort cannot produce."""
    for cohort in DEFAULTS["cohorts"]:
        c = COHORTS[cohort]
        assert set(c.band_labels(c.params())) == set(DEFAULTS["clinical_priority"][cohort]), cohort
    check_bands(load_params())


def test_a_renamed_band_is_refused_before_the_run():
    p = load_params()
    p["clinical_priority"] = {**p["clinical_priority"], "fh": {"refer": 60, "assess": 40}}
    with pytest.raises(ConfigError, match="fh band 'refer for genetic testing' has no clinical_priority score"):
        check_bands(p)


@pytest.mark.parametrize("overrides, message", [
    ({"w_core": 0.5}, "unknown parameter"),
    ({"w_plus": "high"}, "must be"),
    ({"w_plus": -0.1}, "≥ 0"),
    ({"urgent_bands": {"hypertension": ["stage 2"]}}, "urgent band must score above"),
    ({"urgent_bands": {"hypertension": ["extreme"]}}, "no clinical_priority score"),
    ({"cap_margin": 20}, "cap_margin"),
])
def test_bad_parameters_are_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_params(overrides)


def test_a_band_without_a_score_is_an_error(spec_record, results):
    odd = CohortResult(COHORTS["fh"], pd.DataFrame([{**results[0].worklist.iloc[0].to_dict(), "band": "new band"}]), [])
    with pytest.raises(ConfigError, match="no clinical_priority score for fh band 'new band'"):
        inequalities_worklist([odd], spec_record, AS_OF, None)


# --- the file -----------------------------------------------------------------------------------------
def test_written_per_pcn_and_pseudonymised(worklist, tmp_path):
    assert write_inequalities(worklist, tmp_path, [PCN, "U99999"]) == {PCN: 8, "U99999": 0}
    with (tmp_path / PCN / "inequalities.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["patient_id"] == "hf_core20" and rows[0]["nhs_number"] == "999 000 0018"
    assert rows[0]["core20"] == "true"
    write_inequalities(worklist, tmp_path / "p", [PCN], Pseudonymiser(b"k" * 16))
    with (tmp_path / "p" / PCN / "inequalities.csv").open(encoding="utf-8-sig", newline="") as fh:
        pseudo = list(csv.DictReader(fh))
    assert not {"nhs_number", "name", "birth_date"} & set(pseudo[0])
    # the same patient, in the same place, under a keyed hash that is not the id
    assert len(pseudo[0]["patient_id"]) == 32 and pseudo[0]["patient_id"] != "hf_core20"
    assert pseudo[0]["patient_id"] == Pseudonymiser(b"k" * 16).patient_id("hf_core20")
    assert pseudo[0]["patient_id"] != Pseudonymiser(b"j" * 16).patient_id("hf_core20")
