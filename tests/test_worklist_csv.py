"""Worklist CSV cells: safe in a spreadsheet, readable by a clinician, byte-stable."""
from __future__ import annotations

import csv
import datetime as dt

import pytest

from engine.worklists.build import pcn_folder
from engine.worklists.csv_file import cell, nhs_number, write_csv


@pytest.mark.parametrize("text", ["=HYPERLINK(\"x\")", "+1+2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"])
def test_formula_like_text_is_neutralised(text):
    assert cell(text) == "'" + text


@pytest.mark.parametrize("value,shown", [
    ("O'Brien, Siobhán", "O'Brien, Siobhán"), (142.0, "142"), (35.1, "35.1"), (-3, "-3"), (None, ""),
    (float("nan"), ""), (True, "true"), (dt.date(2025, 11, 2), "2025-11-02"), (7, "7")])
def test_plain_values(value, shown):
    assert cell(value) == shown


def test_nhs_number_is_spaced_3_3_4():
    assert nhs_number("9990001234") == "999 000 1234"
    assert nhs_number(None) == ""


def test_pcn_ids_from_data_never_write_outside_out_or_into_engine_folders(tmp_path):
    """The defect: pcn_id '..' wrote identifiable worklists into the parent of --out; 'canonical'
    mixed CSVs into the canonical record; 'U 00001' and 'U/00001' overwrote each other."""
    import pandas as pd

    from engine.worklists.build import CohortResult, write_worklists
    from engine.cohorts import COHORTS
    pcns = ["..", "canonical", "quarantine", "U 00001", "U/00001", "U12345"]
    worklist = pd.DataFrame({"pcn_id": pcns, "patient_id": [f"p{i}" for i in range(len(pcns))],
                             "nhs_number": ["9990001234"] * len(pcns)})
    out = tmp_path / "out"
    counts = write_worklists(CohortResult(COHORTS["smr"], worklist, []), out, pcns)
    assert counts == {p: 1 for p in pcns}
    written = sorted(p for p in tmp_path.rglob("*.csv"))
    assert len(written) == len(pcns) and all(out in p.parents for p in written)
    folders = {p.parent.name for p in written}
    assert len(folders) == len(pcns) and not folders & {"canonical", "quarantine", "..", "out"}
    assert "U12345" in folders


def test_csv_has_bom_one_header_and_crlf(tmp_path):
    path = tmp_path / "w.csv"
    write_csv(path, ["a", "b"], [["x,y", "=1"], [1.5, None]])
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 3
    with path.open(encoding="utf-8-sig", newline="") as fh:
        assert list(csv.reader(fh)) == [["a", "b"], ["x,y", "'=1"], ["1.5", ""]]
