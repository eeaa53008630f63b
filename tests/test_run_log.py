"""The run log's quarantine total counts every quarantined record: those quarantined when the input is
read and those the canonical step quarantines afterwards (e.g. a value with an unknown unit)."""
from __future__ import annotations

import logging
import re

from engine.pipeline import ingest_record

EVENTS = ("event_id,patient_id,date,system,code,display,value,unit,kind,status\n"
          "e1,p1,2025-01-01,loinc,2093-3,Cholesterol,7.6,mmol/mol,observation,final\n"    # unknown unit
          "e2,p1,2025-01-01,loinc,2093-3,Cholesterol,7.6,mmol/L,observation,final\n")


def _extract(folder, bad_date: bool):
    folder.mkdir()
    (folder / "patients.csv").write_text(
        "patient_id,nhs_number,given_name,family_name,birth_date,sex,death_date,lsoa_code,practice_id,"
        "registration_start,registration_end,care_home\np1,9990000018,A,B,1960-01-01,male,,,A10001,,,\n")
    events = EVENTS + ("e3,p1,31/01/2025,loinc,2093-3,Cholesterol,7.6,mmol/L,observation,final\n" if bad_date else "")
    (folder / "events.csv").write_text(events)
    return folder


def _quarantine_line(caplog) -> str:
    lines = [r.getMessage() for r in caplog.records
             if r.name == "casefind" and "records quarantined" in r.getMessage()]
    assert len(lines) == 1, lines
    return lines[0]


def test_one_unknown_unit_is_counted_in_the_run_log(spark, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="casefind")
    manifest = ingest_record(spark, _extract(tmp_path / "in", bad_date=False), tmp_path / "out")
    assert manifest["ingest"]["canonical_quarantined"] == {"events": {"unknown unit": 1}}
    line = _quarantine_line(caplog)
    assert re.search(r"; 1 records quarantined \(0 at read, 1 at the canonical checks\);", line), line


def test_the_total_adds_read_and_canonical_quarantines(spark, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="casefind")
    ingest_record(spark, _extract(tmp_path / "in", bad_date=True), tmp_path / "out")
    line = _quarantine_line(caplog)
    assert re.search(r"; 2 records quarantined \(1 at read, 1 at the canonical checks\);", line), line
