"""casefind sweep: one cohort, several values of one parameter, one facts table."""
from __future__ import annotations

import csv
import json

import pytest

from builders import AS_OF, Population, months_ago
from engine.cli import _sweep_values
from engine.cohorts import COHORTS
from engine.config import ConfigError
from engine.worklists.sweep import sweep

RECENT = months_ago(1)


def population() -> Population:
    pop = Population()
    for pid, systolic in (("p137", 137), ("p142", 142), ("p150", 150), ("p165", 165)):
        pop.patient(pid)
        pop.bp(pid, RECENT, systolic, 70)
    return pop


def test_counts_per_value_and_who_enters_leaves_or_changes_band(spark):
    record = population().record(spark)
    counts, changes = sweep(record, AS_OF, COHORTS["hypertension"], "clinic_stage1_systolic", [135, 140, 145])
    assert counts == {"U00001": [["135", 2, "stage 2", 1], ["135", 4, "stage 1", 3],
                                 ["140", 2, "stage 2", 1], ["140", 4, "stage 1", 2],
                                 ["145", 2, "stage 2", 1], ["145", 4, "stage 1", 1]]}
    assert changes == {"U00001": [["135", "140", "p137", "leaves", "stage 1", ""],
                                  ["140", "145", "p142", "leaves", "stage 1", ""]]}
    # a band boundary moving: 150 becomes stage 2 when stage 2 starts at 150
    _, moved = sweep(record, AS_OF, COHORTS["hypertension"], "clinic_stage2_systolic", [160, 150])
    assert moved == {"U00001": [["160", "150", "p150", "changes band", "stage 1", "stage 2"]]}


def test_sweep_run_writes_per_pcn_files_from_a_stored_record(spark, tmp_path):
    from engine.pipeline import sweep_run
    record = population().record(spark)
    for name in ("patients", "practices", "events", "medications", "referrals", "encounters"):
        getattr(record, name).write.parquet(str(tmp_path / "record" / "canonical" / name))
    manifest = sweep_run(spark, None, AS_OF, tmp_path / "out", "hypertension", "clinic_stage1_systolic",
                         [135, 145], record=tmp_path / "record")
    assert manifest["kind"] == "sweep" and manifest["pcns"] == ["U00001"]
    folder = tmp_path / "out" / "U00001"
    with open(folder / "sweep_hypertension_clinic_stage1_systolic_changes.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["patient_id"], r["change"]) for r in rows] == [("p137", "leaves"), ("p142", "leaves")]
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["values"] == [135, 145]


@pytest.mark.parametrize("setting, message", [
    ("clinic_stage1_systolic=140", "at least two values"),
    ("=1,2", "expected KEY"),
    ("clinic_stage1_systolic", "expected KEY"),
])
def test_bad_set_is_one_clear_line(setting, message):
    with pytest.raises(ConfigError, match=message):
        _sweep_values(setting)


def test_values_are_read_as_yaml_and_checked_before_spark(spark, tmp_path):
    from engine.pipeline import sweep_run
    assert _sweep_values("bp_window_months=12, 18,24") == ("bp_window_months", [12, 18, 24])
    (tmp_path / "record" / "canonical" / "patients").mkdir(parents=True)
    with pytest.raises(ConfigError, match="must be a whole number"):
        sweep_run(spark, None, AS_OF, tmp_path / "out", "hypertension", "bp_window_months", [12, 1.5],
                  record=tmp_path / "record")
    with pytest.raises(ConfigError, match="has no parameter 'bp_window'"):
        sweep_run(spark, None, AS_OF, tmp_path / "out", "hypertension", "bp_window", [12, 18],
                  record=tmp_path / "record")
    assert not (tmp_path / "out").exists()
