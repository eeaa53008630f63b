"""Spec tests for CLINICAL_RULES §9, gap profile: rates per 1,000 eligible by IMD quintile and ethnic
group per PCN, disclosure control (< 8 suppressed, others rounded to 5) and the largest gap named."""
from __future__ import annotations

import csv
import datetime as dt

import pandas as pd
import pytest

from builders import AS_OF
from engine.cohorts import COHORTS
from engine.worklists.build import CohortResult
from engine.worklists.gap_profile import (COLUMNS, disclose, gap_profile, largest_gaps, quintile,
                                          write_gap_profile)
from spec import Spec

PCN, OTHER = "U00001", "UNASSIGNED"

# (IMD decile, ethnic group, eligible adults, of whom on the hypertension worklist)
CELLS = [
    (1, "Black", 30, 12),
    (2, "White", 70, 8),       # quintile 1: 100 eligible, 20 listed → 200.0 per 1,000
    (9, "White", 100, 10),     # quintile 5: 100 eligible, 10 listed → 100.0
    (5, "Asian", 12, 7),       # quintile 3: eligible 12 → "10", listed 7 → "<8"
    (3, "White", 13, 0),       # quintile 2: eligible 13 → "15", listed 0 → "<8"
    (None, None, 9, 9),        # unknown: "10" and "10" (rate shown, never part of the gap)
]


def _decile(decile):
    """Set the patient's IMD decile (Population gives every patient decile 5)."""
    def build(pop, pid):
        next(r for r in pop.rows["patients"] if r["patient_id"] == pid)["imd_decile"] = decile
    return build


# Eligible adults per cell, and those not eligible (children, the dead, the deregistered: all quintile 1,
# so in no denominator), and a second PCN (a practice in no PCN → UNASSIGNED) of 10 eligible.
SPEC = Spec("gap_profile", age=50, ethnicity_category=None)
MEMBERS: list[tuple[str, str, object, object]] = []      # (pcn, pid, decile, group) on the worklist
_n = 0
for _decile_, _group, _count, _listed in CELLS:
    for _i in range(_count):
        _n += 1
        SPEC.add(f"p{_n}", None, _decile(_decile_), ethnicity_group=_group)
        if _i < _listed:
            MEMBERS.append((PCN, f"p{_n}", _decile_, _group))
for _i in range(5):
    SPEC.add(f"child{_i}", None, _decile(1), age=17)
    SPEC.add(f"dead{_i}", None, _decile(1), age=60, death_date=dt.date(2025, 1, 1))
    SPEC.add(f"left{_i}", None, _decile(1), age=60, registration_end=dt.date(2025, 1, 1))
for _i in range(10):
    SPEC.add(f"q{_i}", None, _decile(1), age=40, practice="Z99999")
MEMBERS.append((OTHER, "q0", 1, "White"))


@pytest.fixture(scope="module")
def inputs(spec_record):
    members = [{"pcn_id": pcn, "patient_id": SPEC.prefix + pid, "band": "stage 1", "imd_decile": decile,
                "ethnicity_group": group} for pcn, pid, decile, group in MEMBERS]
    results = [
        CohortResult(COHORTS["hypertension"], pd.DataFrame(members), []),
        CohortResult(COHORTS["fh"], pd.DataFrame(columns=["pcn_id", "patient_id", "band", "imd_decile",
                                                          "ethnicity_group"]), []),
        CohortResult(COHORTS["smr"], pd.DataFrame(members), []),        # not a case-finding cohort
    ]
    return SPEC.view(spec_record), results


@pytest.fixture(scope="module")
def profile(inputs):
    record, results = inputs
    return gap_profile(results, record, AS_OF, None)


def cell(profile, cohort, dim, group, pcn=PCN):
    rows = profile[(profile.pcn_id == pcn) & (profile.cohort == cohort) & (profile.dimension == dim)
                   & (profile.group == group)]
    assert len(rows) == 1
    return rows.iloc[0]


def shown(row):
    return row["eligible"], row["listed"], None if pd.isna(row["rate_per_1000"]) else row["rate_per_1000"]


# --- definitions --------------------------------------------------------------------------------------
@pytest.mark.parametrize("decile, expected", [(1, "1"), (2, "1"), (3, "2"), (4, "2"), (5, "3"), (6, "3"),
                                              (7, "4"), (8, "4"), (9, "5"), (10, "5"), (None, "unknown"),
                                              (float("nan"), "unknown"), (0, "unknown"), (11, "unknown")])
def test_quintile_is_ceil_half_decile_1_most_deprived(decile, expected):
    assert quintile(decile) == expected


@pytest.mark.parametrize("n, expected", [(0, ("<8", None)), (1, ("<8", None)), (7, ("<8", None)),
                                         (8, ("10", 10)), (12, ("10", 10)), (13, ("15", 15)),
                                         (15, ("15", 15)), (17, ("15", 15)), (18, ("20", 20)),
                                         (183, ("185", 185))])
def test_suppress_below_8_and_round_to_nearest_5(n, expected):
    assert disclose(n, 8, 5) == expected


# --- the profile --------------------------------------------------------------------------------------
def test_shape_every_group_of_every_case_finding_cohort_per_pcn(profile):
    assert list(profile.columns) == COLUMNS
    assert sorted(profile.cohort.unique()) == ["fh", "hypertension"]            # smr is not §3–§7
    assert sorted(profile.pcn_id.unique()) == sorted([OTHER, PCN])
    block = profile[(profile.pcn_id == PCN) & (profile.cohort == "hypertension")]
    assert list(block.group) == ["1", "2", "3", "4", "5", "unknown", "White", "Mixed", "Asian", "Black",
                                 "Other", "Unknown"]


def test_imd_quintile_rates_from_spark_denominators(profile):
    h = "hypertension"
    # Children, the dead and the deregistered (15, all decile 1) are not in quintile 1's 100.
    assert shown(cell(profile, h, "IMD quintile", "1")) == ("100", "20", 200.0)
    assert shown(cell(profile, h, "IMD quintile", "5")) == ("100", "10", 100.0)
    assert shown(cell(profile, h, "IMD quintile", "2")) == ("15", "<8", None)
    assert shown(cell(profile, h, "IMD quintile", "3")) == ("10", "<8", None)
    assert shown(cell(profile, h, "IMD quintile", "4")) == ("<8", "<8", None)
    assert shown(cell(profile, h, "IMD quintile", "unknown")) == ("10", "10", 1000.0)


def test_ethnic_group_rates_use_rounded_counts(profile):
    h = "hypertension"
    assert shown(cell(profile, h, "ethnic group", "Black")) == ("30", "10", 333.3)      # 12 → 10
    assert shown(cell(profile, h, "ethnic group", "White")) == ("185", "20", 108.1)     # 183, 18
    assert shown(cell(profile, h, "ethnic group", "Asian")) == ("10", "<8", None)
    assert shown(cell(profile, h, "ethnic group", "Mixed")) == ("<8", "<8", None)
    assert shown(cell(profile, h, "ethnic group", "Unknown")) == ("10", "10", 1000.0)


def test_largest_gap_named_unknown_excluded(profile):
    imd = cell(profile, "hypertension", "IMD quintile", "1")
    assert imd["largest_gap"] == "IMD quintile 1 vs 5: 200.0 vs 100.0 per 1,000 (2.0×)"
    assert imd["gap_role"] == "highest" and cell(profile, "hypertension", "IMD quintile", "5")["gap_role"] == "lowest"
    assert cell(profile, "hypertension", "IMD quintile", "unknown")["gap_role"] == ""
    eth = cell(profile, "hypertension", "ethnic group", "White")
    assert eth["largest_gap"] == "ethnic group Black vs White: 333.3 vs 108.1 per 1,000 (3.1×)"


def test_no_gap_named_when_fewer_than_two_groups_can_be_shown(profile):
    row = cell(profile, "hypertension", "IMD quintile", "1", pcn=OTHER)
    assert shown(row) == ("10", "<8", None)
    assert row["largest_gap"].startswith("none named")
    assert shown(cell(profile, "fh", "IMD quintile", "1")) == ("100", "<8", None)
    assert cell(profile, "fh", "ethnic group", "White")["largest_gap"].startswith("none named")


def test_largest_gaps_one_sentence_per_block(profile):
    gaps = largest_gaps(profile)
    assert len(gaps) == 2 * 2 * 2           # PCNs × cohorts × dimensions
    assert set(gaps.columns) == {"pcn_id", "cohort", "dimension", "largest_gap"}


# --- parameters ---------------------------------------------------------------------------------------
def test_parameters_change_the_answer(inputs):
    record, results = inputs
    looser = gap_profile(results, record, AS_OF, {"suppress_below": 5})
    assert shown(cell(looser, "hypertension", "IMD quintile", "3")) == ("10", "5", 500.0)
    assert cell(looser, "hypertension", "IMD quintile", "3")["largest_gap"] == \
        "IMD quintile 3 vs 5: 500.0 vs 100.0 per 1,000 (5.0×)"
    exact = gap_profile(results, record, AS_OF, {"round_to": 1, "cohorts": ["hypertension"], "min_age": 60})
    assert sorted(exact.cohort.unique()) == ["hypertension"]
    # Everyone in CELLS is 50: with min_age 60 nobody is eligible there.
    assert shown(cell(exact, "hypertension", "ethnic group", "Black")) == ("<8", "12", None)


# --- the file -----------------------------------------------------------------------------------------
def test_written_per_pcn_without_small_numbers(profile, tmp_path):
    counts = write_gap_profile(profile, tmp_path, [PCN, OTHER])
    assert counts == {PCN: 24, OTHER: 24}
    with (tmp_path / PCN / "gap_profile.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == COLUMNS[1:]
    row = next(r for r in rows if r["cohort"] == "hypertension" and r["group"] == "3")
    assert (row["eligible"], row["listed"], row["rate_per_1000"]) == ("10", "<8", "")
    for r in rows:
        for c in ("eligible", "listed"):
            assert r[c] == "<8" or int(r[c]) % 5 == 0
