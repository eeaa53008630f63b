"""casefind sweep: one cohort, several values of one parameter, one facts table."""
from __future__ import annotations

import csv
import json

import pytest

from builders import months_ago
from engine.cli import _sweep_values
from engine.cohorts import COHORTS
from engine.config import ConfigError
from engine.worklists.sweep import sweep
from reference import AS_OF
from spec import Spec

RECENT = months_ago(1)

SPEC = Spec("sweep", COHORTS["hypertension"])
for _pid, _systolic in (("p137", 137), ("p142", 142), ("p150", 150), ("p165", 165)):
    SPEC.add(_pid, None, lambda p, pid, s=_systolic: p.bp(pid, RECENT, s, 70))


def _ids(changes: dict) -> dict:
    return {pcn: [[*r[:2], SPEC.test_id(r[2]), *r[3:]] for r in rows] for pcn, rows in changes.items()}


def test_counts_per_value_and_who_enters_leaves_or_changes_band(spec_record):
    record = SPEC.view(spec_record)
    counts, changes = sweep(record, AS_OF, COHORTS["hypertension"], "clinic_stage1_systolic", [135, 140, 145])
    assert counts == {"U00001": [["135", 2, "stage 2", 1], ["135", 4, "stage 1", 3],
                                 ["140", 2, "stage 2", 1], ["140", 4, "stage 1", 2],
                                 ["145", 2, "stage 2", 1], ["145", 4, "stage 1", 1]]}
    assert _ids(changes) == {"U00001": [["135", "140", "p137", "leaves", "stage 1", ""],
                                        ["140", "145", "p142", "leaves", "stage 1", ""]]}
    # a band boundary moving: 150 becomes stage 2 when stage 2 starts at 150
    _, moved = sweep(record, AS_OF, COHORTS["hypertension"], "clinic_stage2_systolic", [160, 150])
    assert _ids(moved) == {"U00001": [["160", "150", "p150", "changes band", "stage 1", "stage 2"]]}


def _read(path):
    with open(path, encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def test_sweep_run_from_the_stored_reference_record_reproduces_its_worklists(spark, reference, tmp_path):
    """At the shipped value the sweep lists, per PCN and band, exactly what the reference run listed;
    a lower threshold only adds patients, each one not on the reference list."""
    from engine.pipeline import sweep_run
    shipped = COHORTS["hypertension"].params()["clinic_stage1_systolic"]
    manifest = sweep_run(spark, None, AS_OF, tmp_path / "out", "hypertension", "clinic_stage1_systolic",
                         [shipped, shipped - 5], record=reference.out)
    assert manifest["kind"] == "sweep" and manifest["values"] == [shipped, shipped - 5]
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["values"] == [shipped, shipped - 5]
    assert manifest["pcns"] == reference.manifest["pcns"]
    entered = 0
    for pcn in manifest["pcns"]:
        listed = _read(reference.out / pcn / "hypertension.csv")
        bands: dict[str, int] = {}
        for r in listed:
            bands[r["band"]] = bands.get(r["band"], 0) + 1
        counts = _read(tmp_path / "out" / pcn / "sweep_hypertension_clinic_stage1_systolic.csv")
        assert {r["band"]: int(r["listed"]) for r in counts if r["value"] == str(shipped)} == bands, pcn
        changes = _read(tmp_path / "out" / pcn / "sweep_hypertension_clinic_stage1_systolic_changes.csv")
        on_list = {r["patient_id"] for r in listed}
        assert {r["change"] for r in changes} <= {"enters", "changes band"}
        assert not {r["patient_id"] for r in changes if r["change"] == "enters"} & on_list
        entered += sum(r["change"] == "enters" for r in changes)
    assert entered > 0, "no patient between the two thresholds: the check above checked nothing"


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
