"""Every folder of the public FHIR samples (../shared/fhir_samples) ingests without a crash and with
every record accounted for (read = ingested + quarantined + skipped, per type)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from engine import schema
from engine.ingest import detect_format
from samples import FOLDERS


def test_every_sample_folder_is_listed(fhir_samples):
    present = {p.name for p in fhir_samples.iterdir() if p.is_dir()}
    assert present == set(FOLDERS), "a sample folder was added or removed: update FOLDERS"


@pytest.fixture(scope="module")
def runs(sample_ingests):
    return sample_ingests


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_sample_folder_accounting(folder, runs, fhir_samples):
    sub, fmt = FOLDERS[folder]
    assert detect_format(fhir_samples / folder / sub) == fmt
    result = runs(folder)
    rep = result.report
    json.dumps(rep)
    assert rep["totals"]["read"] > 0
    for rtype, c in rep["records"].items():
        assert c["read"] == c["ingested"] + c["quarantined"] + c["skipped"], rtype
    assert "Bundle" not in rep["records"]
    assert sum(rep["quarantine_reasons"].values()) == rep["totals"]["quarantined"]
    for name, sch in schema.TABLES.items():
        assert result.tables[name].schema == sch
    assert rep["canonical_rows"]["patients"] > 0


def test_synthea_bundles(runs):
    res = runs("synthea_pathling_bundles")
    rep = res.report
    assert rep["records"]["Patient"] == {"read": 10, "ingested": 10, "quarantined": 0, "skipped": 0}
    assert rep["canonical_rows"]["patients"] == 10
    ev = res.tables["events"]
    sbp = ev.filter("system = 'http://loinc.org' and code = '8480-6'")
    assert sbp.select("patient_id").distinct().count() == 10
    assert sbp.filter("value is null").count() == 0
    # every urn:uuid subject resolved to a patient in the data
    assert rep["quarantine_reasons"].get("unknown patient", 0) == 0


def test_smart_bulk_log_lines_skipped(runs):
    rep = runs("bulk_smart_sample_10patients").report
    assert rep["skip_reasons"]["bulk export log line"] == 4
    assert rep["records"]["Patient"]["ingested"] == 13


def test_cumulus_escaped_slashes_and_unknown_patients(runs):
    res = runs("bulk_cumulus_etl_simple")
    rep = res.report
    assert rep["quarantine_reasons"].get("unknown patient", 0) > 0       # references to absent patients
    systems = {r["system"] for r in res.tables["events"].select("system").distinct().collect()}
    assert not any("\\/" in (s or "") for s in systems)


def test_ukcore_blood_pressure_example(runs):
    ev = runs("ukcore_r4_examples").tables["events"]
    bp = ev.filter("source_id = 'Observation/UKCore-Observation-VitalSigns-BloodPressure-Example'")
    got = sorted((r["system"], r["code"], r["value"]) for r in bp.collect())
    assert ("http://loinc.org", "8480-6", 142.0) in got
    assert ("http://snomed.info/sct", "72313002", 142.0) in got
    assert ("http://loinc.org", "8462-4", 94.0) in got
    assert ("http://snomed.info/sct", "1091811000000102", 94.0) in got
    assert {r["date"] for r in bp.collect()} == {dt.date(2023, 8, 10)}


def test_eps_message_bundles(runs):
    res = runs("uk_nhs_eps_examples")
    rep = res.report
    assert rep["quarantine_by_type"]["(none)"] == {"no resourceType": 1}   # signature.json
    nhs = res.tables["patients"].filter("nhs_number is not null").count()
    assert nhs == rep["canonical_rows"]["patients"]
    assert rep["records"]["MedicationRequest"]["ingested"] > 0


def test_canonical_tables_unchanged(runs):
    """Regression over row sets: every canonical table of every sample folder equals the one stored
    in tests/data/canonical_digests.json (written by tests/canonical_digest.py from the ingest as it
    was before the FHIR mapping moved into ViewDefinitions). A changed digest names the folder and
    table; refresh the store only for an intended change."""
    from canonical_digest import STORE, digests
    stored = json.loads(STORE.read_text())
    assert set(stored) == set(FOLDERS)
    changed = {}
    for folder in sorted(FOLDERS):
        got = digests(runs(folder).tables)
        for table, want in stored[folder].items():
            if got[table] != want:
                changed[f"{folder}/{table}"] = (want["rows"], got[table]["rows"])
    assert not changed, f"canonical tables changed (stored rows, rows now): {changed}"


# --- CLINICAL_RULES §0 on records nobody here wrote: standing orders are authorisations ---------------

def _facts(spark, result, as_of):
    from engine.features.facts import patient_facts
    from engine.record import Record
    return patient_facts(Record.from_tables(result.tables), as_of)


@pytest.mark.parametrize("folder, source, code, start, cls", [
    # a Synthea bulk export (NDJSON): Diazepam 5 MG on one active order since 1970
    ("bulk_smart_sample_10patients", "MedicationRequest/3f510867%", "197591", dt.date(1970, 7, 20), "benzodiazepine"),
    # Synthea Bundles: Naproxen sodium 220 MG on one active order since 2004
    ("synthea_pathling_bundles", "MedicationRequest/96554115%", "849574", dt.date(2004, 6, 29), "nsaid_oral"),
])
def test_synthea_standing_order_is_a_current_medicine(spark, runs, folder, source, code, start, cls):
    """Synthea writes one long-lived active order per medicine, not each issue. Read as an issue it
    was "issued" once, years ago; read as an authorisation (§0) it covers every day since, so the
    patient is on it today and 12 months of it imply 14 issues (one per started 28 days). Neither
    Synthea folder holds an oral anticoagulant; the HL7 warfarin example is the test below."""
    from engine.features import rows as R
    res = runs(folder)
    order = res.tables["medications"].where(f"source_id like '{source}'").collect()
    assert [(r["kind"], r["date"], r["end_date"], r["code"]) for r in order] == [("authorisation", start, None, code)]
    as_of = dt.date(start.year + 1, start.month, 1)
    facts = _facts(spark, res, as_of)
    rx = f"rx_{cls}"
    row = facts.where(facts.patient_id == order[0]["patient_id"]).select(
        (F.size(R.current(rx, as_of, 90)) > 0).alias("current"),
        R.issue_count(rx, R.add_months(as_of, -12)).alias("n"),
        R.taken_text(R.last_taken(rx), as_of).alias("text")).first()
    covered = (as_of - start).days + 1
    assert (row["current"], row["n"], row["text"]) == (
        True, -(-covered // 28), f"repeat authorised since {start.isoformat()}, still active")


def test_hl7_warfarin_order_covers_its_validity_period(spark, runs):
    """The HL7 R4 example medrx0331: Warfarin Sodium, status active, 3 repeats, valid 2015-01-15 to
    2016-01-15, 30-day supply: an authorisation; anticoagulation while valid, not a year after."""
    from engine.features import rows as R
    res = runs("hl7_fhir_r4_examples")
    order = res.tables["medications"].where("source_id = 'MedicationRequest/medrx0331'").collect()
    assert [(r["kind"], r["date"], r["end_date"], r["supply_days"], r["code"]) for r in order] == [
        ("authorisation", dt.date(2015, 1, 15), dt.date(2016, 1, 15), 30, "114194")]
    seen = {}
    for as_of in (dt.date(2015, 7, 1), dt.date(2016, 3, 1), dt.date(2016, 9, 1)):
        facts = _facts(spark, res, as_of)
        since = R.add_months(as_of, -6)
        r = facts.where(facts.patient_id == order[0]["patient_id"]).select(
            R.issue_count("rx_anticoagulant_oral", since).alias("n"),
            R.taken_text(R.last_taken("rx_anticoagulant_oral", since), as_of).alias("text")).first()
        seen[as_of] = (r["n"], r["text"])
    assert seen == {dt.date(2015, 7, 1): (6, "repeat authorised since 2015-01-15, still active"),
                    dt.date(2016, 3, 1): (5, "repeat authorised 2015-01-15 to 2016-01-15"),
                    dt.date(2016, 9, 1): (0, None)}
