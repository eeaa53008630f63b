"""CLINICAL_RULES §2 "the patient's current address": a FHIR Patient's LSOA and care-home flag come from
its current address only (conf/views/patients.Patient.json), never from an old one.

Current = ``use`` is not ``old`` and there is no ``period.end`` (ingest has no run date, so an address
with an end date counts as past); among several current addresses the first with ``use`` home, else
the first. Hand-built Patients, ingested once as bulk NDJSON.
"""
from __future__ import annotations

import pytest

from engine.fhir_conventions import CARE_HOME_EXTENSION, LSOA_EXTENSION
from engine.ingest import ingest
from test_ingest import _conf, patient, write_ndjson

ORDINARY_LSOA, CARE_HOME_LSOA = "E01000002", "E01000001"     # IMD deciles 9 and 3 in _conf's file


def address(lsoa: str, care_home: bool, **extra) -> dict:
    return {"extension": [{"url": LSOA_EXTENSION, "valueString": lsoa},
                          {"url": CARE_HOME_EXTENSION, "valueBoolean": care_home}], **extra}


CARE, ORDINARY = (CARE_HOME_LSOA, True), (ORDINARY_LSOA, False)
# patient id → (addresses, expected address_care_home, expected lsoa_code)
CASES = {
    "old_care_home_then_current_ordinary": (
        [address(*CARE, use="old"), address(*ORDINARY)], False, ORDINARY_LSOA),
    "old_ordinary_then_current_care_home": (
        [address(*ORDINARY, use="old"), address(*CARE)], True, CARE_HOME_LSOA),
    "ended_care_home_then_current_ordinary": (
        [address(*CARE, use="home", period={"start": "2019-01-01", "end": "2023-05-31"}),
         address(*ORDINARY, use="home", period={"start": "2023-06-01"})], False, ORDINARY_LSOA),
    "ended_ordinary_then_current_care_home": (
        [address(*ORDINARY, period={"end": "2023-05-31"}), address(*CARE, period={"start": "2023-06-01"})],
        True, CARE_HOME_LSOA),
    "current_ordinary_listed_before_old_care_home": (
        [address(*ORDINARY, use="home"), address(*CARE, use="old")], False, ORDINARY_LSOA),
    "home_preferred_to_an_earlier_temp_care_home": (
        [address(*CARE, use="temp"), address(*ORDINARY, use="home")], False, ORDINARY_LSOA),
    "home_care_home_preferred_to_an_earlier_work_address": (
        [address(*ORDINARY, use="work"), address(*CARE, use="home")], True, CARE_HOME_LSOA),
    "two_current_without_use_the_first": (
        [address(*CARE), address(*ORDINARY)], True, CARE_HOME_LSOA),
    "only_an_old_care_home": ([address(*CARE, use="old")], None, None),
}


@pytest.fixture(scope="module")
def patients(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("current_address")
    src = base / "in"
    src.mkdir()
    write_ndjson(src / "Patient.ndjson", [patient(pid, address=addresses) for pid, (addresses, _, _) in CASES.items()])
    cl, imd = _conf(base)
    result = ingest(spark, src, "fhir-ndjson", base / "out", codelist_dir=cl, imd_path=imd)
    return {r["patient_id"]: r for r in result.tables["patients"].collect()}


@pytest.mark.parametrize("pid", list(CASES))
def test_care_home_flag_and_lsoa_come_from_the_current_address(patients, pid):
    _, care_home, lsoa = CASES[pid]
    row = patients[pid]
    assert (row["address_care_home"], row["lsoa_code"]) == (care_home, lsoa)


def test_imd_follows_the_current_address(patients):
    assert patients["old_care_home_then_current_ordinary"]["imd_decile"] == 9
    assert patients["old_ordinary_then_current_care_home"]["imd_decile"] == 3
    assert patients["only_an_old_care_home"]["imd_decile"] is None
