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


def test_pcn_folder_is_safe():
    assert pcn_folder("U12345") == "U12345"
    assert pcn_folder(None) == "UNASSIGNED"
    assert pcn_folder("../etc") == ".._etc"


def test_csv_has_bom_one_header_and_crlf(tmp_path):
    path = tmp_path / "w.csv"
    write_csv(path, ["a", "b"], [["x,y", "=1"], [1.5, None]])
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 3
    with path.open(encoding="utf-8-sig", newline="") as fh:
        assert list(csv.reader(fh)) == [["a", "b"], ["x,y", "'=1"], ["1.5", ""]]
