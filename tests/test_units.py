"""CLINICAL_RULES §0 units: lipids in mg/dL become mmol/L, NT-proBNP pg/mL = ng/L, unknown units quarantined."""
from __future__ import annotations

import pytest

from engine.ingest import ingest

EVENTS = [
    # event_id, code, system, value, unit
    ("e1", "2093-3", "loinc", "290", "mg/dL"),         # total cholesterol, US → 7.4993 mmol/L
    ("e2", "2093-3", "loinc", "7.6", "mmol/L"),
    ("e3", "18262-6", "loinc", "193.4", "MG/DL"),      # LDL, case-insensitive unit
    ("e4", "33762-6", "loinc", "2100", "pg/mL"),       # NT-proBNP → 2100 ng/L
    ("e5", "2093-3", "loinc", "7.6", "mmol/mol"),      # wrong unit: quarantined
    ("e6", "2093-3", "loinc", "7.6", ""),              # no unit: quarantined
    ("e7", "72313002", "snomedct", "150", "mm[Hg]"),   # not an analyte with a unit rule: kept as is
    ("e8", "777-3", "loinc", "450", "10*3/uL"),        # platelets, US unit → 450 ×10^9/L
    ("e9", "57905-2", "loinc", "10.2", "ng/mL"),       # FIT in ng/mL is not µg Hb/g: quarantined
]


@pytest.fixture(scope="module")
def result(spark, tmp_path_factory):
    d = tmp_path_factory.mktemp("units")
    (d / "practices.csv").write_text("practice_id,practice_name,pcn_id,pcn_name\nA10001,Surgery,U00001,PCN\n")
    (d / "patients.csv").write_text(
        "patient_id,nhs_number,given_name,family_name,birth_date,sex,death_date,lsoa_code,practice_id,"
        "registration_start,registration_end,care_home\np1,9990000018,A,B,1960-01-01,male,,,A10001,,,\n")
    lines = ["event_id,patient_id,date,system,code,display,value,unit,kind,status"]
    lines += [f"{e},p1,2025-01-01,{s},{c},,{v},{u},observation,active" for e, c, s, v, u in EVENTS]
    (d / "events.csv").write_text("\n".join(lines) + "\n")
    for t, header in (("medications", "issue_id,patient_id,date,end_date,system,code,display,status,quantity"),
                      ("referrals", "referral_id,patient_id,date,system,code,display,priority,status,outcome_date"),
                      ("encounters", "encounter_id,patient_id,start,end,class,system,code")):
        (d / f"{t}.csv").write_text(header + "\n")
    return ingest(spark, d, "gp-extract", d / "out")


def test_values_converted_to_one_unit(result):
    got = {r["source_id"]: (r["value"], r["unit"]) for r in result.tables["events"].collect()}
    assert got["e1"] == (pytest.approx(290 / 38.67, abs=1e-3), "mmol/L")
    assert got["e2"] == (7.6, "mmol/L")
    assert got["e3"] == (pytest.approx(5.0013, abs=1e-3), "mmol/L")
    assert got["e4"] == (2100.0, "ng/L")
    assert got["e7"] == (150.0, "mm[Hg]")
    assert got["e8"] == (450.0, "10*9/L")
    assert "e5" not in got and "e6" not in got and "e9" not in got


def test_unknown_units_quarantined_and_counted(result):
    q = result.report["canonical_quarantined"]
    assert "unknown unit" in str(q)
    assert sum(v for t in q.values() for k, v in t.items() if k == "unknown unit") == 3


def test_value_and_unit_as_recorded_are_kept_beside_the_converted_ones(result):
    got = {r["source_id"]: (r["value"], r["unit"], r["value_recorded"], r["unit_recorded"])
           for r in result.tables["events"].collect()}
    assert got["e1"] == (pytest.approx(290 / 38.67, abs=1e-3), "mmol/L", 290.0, "mg/dL")
    assert got["e3"] == (pytest.approx(5.0013, abs=1e-3), "mmol/L", 193.4, "MG/DL")    # as written
    assert got["e4"] == (2100.0, "ng/L", 2100.0, "pg/mL")
    # nothing converted: the same value and unit, on every row
    assert got["e2"] == (7.6, "mmol/L", 7.6, "mmol/L")
    assert got["e7"] == (150.0, "mm[Hg]", 150.0, "mm[Hg]")
    assert got["e8"] == (450.0, "10*9/L", 450.0, "10*3/uL")


def test_a_record_without_a_unit_table_still_keeps_what_was_recorded(spark):
    from engine import schema
    from engine.ingest.units import normalise
    row = {f.name: None for f in schema.EVENTS.fields} | {"value": 4.2, "unit": "mmol/L"}
    df = normalise(spark.createDataFrame([tuple(row[f.name] for f in schema.EVENTS.fields)], schema.EVENTS), None)
    (r,) = df.collect()
    assert (r["value"], r["unit"], r["value_recorded"], r["unit_recorded"], r["_unit_reason"]) == \
        (4.2, "mmol/L", 4.2, "mmol/L", None)
