"""Ingest specifications on tiny hand-built inputs: FHIR NDJSON, FHIR Bundles, GP extract CSV/Parquet.

Each layout is ingested once (module fixtures); the tests read the canonical tables, the report and
the quarantine it wrote.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import pytest

from engine import schema
from engine.config import ConfigError, conf_dir
from engine.fhir_conventions import (CARE_HOME_EXTENSION, LSOA_EXTENSION, NHS_NUMBER_SYSTEM, ODS_SYSTEM,
                                     REGISTRATION_EXTENSION, UKCORE_ETHNICITY_EXTENSION)
from engine.ingest import detect_format, ingest

SCT, LOINC = "http://snomed.info/sct", "http://loinc.org"
UKCORE_ETH = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory"
D = dt.date


# --- shared test inputs ---------------------------------------------------------------------------

def _conf(base: Path) -> tuple[Path, Path]:
    """A tiny ethnicity codelist, the real lab lists units.yaml names, and an IMD file with the
    published IMD 2019 column names."""
    cl = base / "codelists"
    cl.mkdir(parents=True, exist_ok=True)
    for name in ("total_cholesterol", "ldl_cholesterol", "ntprobnp", "fit", "psa", "platelets"):
        shutil.copy(conf_dir() / "codelists" / f"{name}.csv", cl)
    (cl / "ethnicity.csv").write_text(
        "# test list\ncode,term,system,group,category\n"
        "110751000000108,Indian,snomedct,Asian,Indian\n"
        "92531000000104,Not stated,snomedct,Not stated,Not stated\n"
        f"H,Indian,{UKCORE_ETH},Asian,Indian\n"
        f"M,Caribbean,{UKCORE_ETH},Black,Caribbean\n")
    imd = base / "imd.csv"
    imd.write_text('"LSOA code (2011)","LSOA name (2011)",'
                   '"Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)"\n'
                   'E01000001,Test 001A,3\nE01000002,Test 001B,9\n')
    return cl, imd


def cc(*codings) -> dict:
    return {"coding": [{"system": s, "code": c, "display": d} for s, c, d in codings]}


def qty(v, unit="mmHg") -> dict:
    return {"value": v, "unit": unit, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}


def obs(oid, subject, codings, date="2025-03-05", value=None, **extra) -> dict:
    r = {"resourceType": "Observation", "id": oid, "status": "final", "code": cc(*codings),
         "effectiveDateTime": date}
    if subject:
        r["subject"] = {"reference": subject}
    if value is not None:
        r["valueQuantity"] = qty(value)
    r.update(extra)
    return r


def cond(cid, subject, clinical, verification="confirmed", code=("38341003", "Hypertension"), **dates) -> dict:
    r = {"resourceType": "Condition", "id": cid, "subject": {"reference": subject},
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                        "code": clinical}]},
         "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                            "code": verification}]},
         "code": cc((SCT, *code))}
    r.update(dates)
    return r


def patient(pid, nhs="999 000 1234", practice_ref="Organization/org1", eth=None, **extra) -> dict:
    r = {"resourceType": "Patient", "id": pid,
         "identifier": [{"system": "https://example.org/mrn", "value": "MRN1"},
                        {"system": NHS_NUMBER_SYSTEM, "value": nhs}],
         "name": [{"use": "usual", "given": ["Nick"]}, {"use": "official", "family": "Testpatient",
                                                         "given": ["Ann", "Marie"]}],
         "gender": "female", "birthDate": "1960-05",
         "address": [{"extension": [{"url": LSOA_EXTENSION, "valueString": "E01000001"},
                                    {"url": CARE_HOME_EXTENSION, "valueBoolean": True}]}],
         "extension": [{"url": REGISTRATION_EXTENSION, "valuePeriod": {"start": "2010-01-01"}}],
         "generalPractitioner": [{"reference": "Practitioner/gp1"},
                                 {"reference": practice_ref, "identifier": {"system": ODS_SYSTEM, "value": "A12345"}}]}
    if eth:
        r["extension"].append({"url": UKCORE_ETHNICITY_EXTENSION, "valueCodeableConcept": cc((UKCORE_ETH, eth, ""))})
    r.update(extra)
    return r


def write_ndjson(path: Path, resources: list, extra_lines: list[str] = ()) -> None:
    lines = [json.dumps(r) for r in resources] + list(extra_lines)
    data = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(data)
    else:
        path.write_text(data)


def rows(df, *cols, where=None):
    if where is not None:
        df = df.filter(where)
    return sorted(tuple(r[c] for c in cols) for r in df.select(*cols).collect())


def check_schemas(result) -> None:
    for name, sch in schema.TABLES.items():
        assert result.tables[name].schema == sch, name


def check_invariant(report: dict) -> None:
    for rtype, c in report["records"].items():
        assert c["read"] == c["ingested"] + c["quarantined"] + c["skipped"], rtype
    t = report["totals"]
    assert t["read"] == t["ingested"] + t["quarantined"] + t["skipped"]


# --- FHIR bulk NDJSON -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ndjson_run(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("ndjson")
    src = base / "in"
    src.mkdir()
    write_ndjson(src / "Patient.ndjson", [
        patient("p1", eth="M"),
        patient("p2", nhs="9990005678", practice_ref="Organization/org2", deceasedDateTime="2024-02-03T10:00:00Z",
                address=[], extension=[]),
    ])
    write_ndjson(src / "Organization.ndjson", [
        {"resourceType": "Organization", "id": "org1", "identifier": [{"system": ODS_SYSTEM, "value": "A12345"}],
         "name": "Test Surgery", "partOf": {"reference": "Organization/pcn1"}},
        {"resourceType": "Organization", "id": "pcn1", "identifier": [{"system": ODS_SYSTEM, "value": "U12345"}],
         "name": "Test PCN"},
        {"resourceType": "Organization", "id": "org2", "identifier": [{"system": ODS_SYSTEM, "value": "B22222"}],
         "name": "Lonely Surgery"},
    ])
    write_ndjson(src / "Observation.000.ndjson", [
        obs("bp-panel", "Patient/p1", [(LOINC, "85354-9", "Blood pressure panel"), (SCT, "75367002", "BP")],
            date="2025-03-04T09:00:00+01:00",
            component=[{"code": cc((LOINC, "8480-6", "Systolic")), "valueQuantity": qty(150)},
                       {"code": cc((LOINC, "8462-4", "Diastolic")), "valueQuantity": qty(95)}]),
        obs("sbp", "Patient/p1", [(SCT, "271649006", "Systolic")], value=148),
        obs("dbp", "Patient/p1", [(SCT, "271650006", "Diastolic")], value=92),
        obs("weight", "Patient/p1", [(SCT, "27113001", "Body weight"), ("http://loinc.org/", "29463-7", "Weight")],
            value=80.5, date="2024"),
        obs("month", "Patient/p1", [(SCT, "60621009", "BMI")], value=31, date="2023-07"),
        obs("eth-indian", "Patient/p1", [("snomedct", "110751000000108", "Indian")], date="2020-01-01"),
        obs("eth-notstated", "Patient/p1", [(SCT, "92531000000104", "Not stated")], date="2022-01-01"),
        obs("eie", "Patient/p2", [(SCT, "271649006", "Systolic")], value=200, status="entered-in-error"),
        obs("nosubj", None, [(SCT, "271649006", "Systolic")], value=120),
        obs("unknown", "Patient/nope", [(SCT, "271649006", "Systolic")], value=120),
        obs("badnum", "Patient/p1", [(SCT, "271649006", "Systolic")], value="1x0"),
        obs("nocode", "Patient/p1", [(SCT, "", "empty")], value=1),
        obs("baddate", "Patient/p1", [(SCT, "271649006", "Systolic")], value=130, date="2025-02-30"),
    ], extra_lines=["", '{"resourceType": "Observation", "id": "broken", ', '{"note": "no type"}'])
    write_ndjson(src / "Observation.001.ndjson.gz", [obs("gz", "Patient/p2", [(SCT, "271649006", "Systolic")],
                                                        value=141, date="2025-01-10")])
    write_ndjson(src / "Condition.ndjson", [
        cond("c-active", "Patient/p1", "active", onsetDateTime="2020-01-02T10:00:00Z"),
        cond("c-abated", "Patient/p1", "resolved", onsetDateTime="2019-01-01", abatementDateTime="2021-06-30"),
        cond("c-noabate", "Patient/p1", "resolved", onsetDateTime="2018-01-01", recordedDate="2018-02-01"),
        cond("c-refuted", "Patient/p1", "active", verification="refuted", recordedDate="2017-03-03"),
        cond("c-eie", "Patient/p1", "active", verification="entered-in-error", onsetDateTime="2016-04-04"),
    ])
    write_ndjson(src / "MedicationRequest.ndjson", [
        {"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p1"}, "authoredOn": "2025-02-01",
         "contained": [{"resourceType": "Medication", "id": "m1", "code": cc((SCT, "318850004", "Amlodipine"))}],
         "medicationReference": {"reference": "#m1"},
         "dispenseRequest": {"quantity": {"value": 28}, "validityPeriod": {"end": "2025-03-01"}}},
        {"resourceType": "MedicationRequest", "id": "mr2", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p1"}, "authoredOn": "2025-02-02",
         "medicationCodeableConcept": cc(("https://dmd.nhs.uk/", "39732311000001104", "Ramipril"))},
    ])
    write_ndjson(src / "Encounter.ndjson", [
        {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "EMER"},
         "subject": {"reference": "Patient/p1"}, "period": {"start": "2025-01-05T23:00:00Z"}},
        {"resourceType": "Encounter", "id": "e2", "status": "cancelled", "class": {"code": "AMB"},
         "subject": {"reference": "Patient/p1"}, "period": {"start": "2025-01-06"}},
        # the appointments referral s1 led to: a planned one is not an outcome, the finished one is
        {"resourceType": "Encounter", "id": "e3", "status": "planned", "class": {"code": "AMB"},
         "basedOn": [{"reference": "ServiceRequest/s1"}],
         "subject": {"reference": "Patient/p1"}, "period": {"start": "2025-02-08"}},
        {"resourceType": "Encounter", "id": "e4", "status": "finished", "class": {"code": "AMB"},
         "basedOn": [{"reference": "ServiceRequest/s1"}],
         "subject": {"reference": "Patient/p1"}, "period": {"start": "2025-02-20T10:00:00Z"}},
    ])
    write_ndjson(src / "ServiceRequest.ndjson", [
        {"resourceType": "ServiceRequest", "id": "s1", "status": "active", "intent": "order", "priority": "urgent",
         "subject": {"reference": "Patient/p1"}, "code": cc((SCT, "183521007", "Referral to cardiology")),
         "authoredOn": "2025-02-03"},
        {"resourceType": "ServiceRequest", "id": "s2", "status": "completed", "intent": "order", "priority": "urgent",
         "subject": {"reference": "Patient/p1"}, "code": cc((SCT, "183521007", "Referral to cardiology")),
         "authoredOn": "2025-02-04"}])
    write_ndjson(src / "AllergyIntolerance.ndjson", [{"resourceType": "AllergyIntolerance", "id": "a1"}])
    write_ndjson(src / "log.ndjson", [{"exportId": "x", "eventId": "kickoff", "timestamp": "2025-01-01"}])
    (src / "README.md").write_text("not data")
    cl, imd = _conf(base)
    return ingest(spark, src, None, base / "out", codelist_dir=cl, imd_path=imd)


def test_detect_format(tmp_path):
    (tmp_path / "nd").mkdir()
    (tmp_path / "nd" / "Patient.000.ndjson.gz").write_bytes(b"")
    assert detect_format(tmp_path / "nd") == "fhir-ndjson"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.json").write_text("{}")
    assert detect_format(tmp_path / "b") == "fhir-bundles"
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "patients.csv").write_text("patient_id\n")
    assert detect_format(tmp_path / "g") == "gp-extract"
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "missing", tmp_path / "empty"):
        with pytest.raises(ConfigError) as err:
            detect_format(bad)
        assert "\n" not in str(err.value)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "LICENSE").write_text("x")
    with pytest.raises(ConfigError, match="no .ndjson"):
        detect_format(tmp_path / "other")


def test_ndjson_schemas_and_accounting(ndjson_run):
    check_schemas(ndjson_run)
    rep = ndjson_run.report
    check_invariant(rep)
    assert rep["format"] == "fhir-ndjson"
    assert rep["files"]["read"] == {"ndjson": 10, "json": 0}
    assert rep["files"]["ignored"] == ["README.md"]
    obs_counts = rep["records"]["Observation"]
    assert obs_counts == {"read": 14, "ingested": 9, "quarantined": 5, "skipped": 0}
    assert rep["quarantine_by_type"]["Observation"] == {
        "bad date": 1, "bad number": 1, "no code": 1, "no subject": 1, "unknown patient": 1}
    assert rep["quarantine_by_type"]["(none)"] == {"invalid JSON": 1, "no resourceType": 1}
    assert rep["records"]["(none)"]["skipped"] == 1            # the export log line
    assert rep["skip_reasons"] == {"bulk export log line": 1, "entered-in-error or cancelled": 1,
                                   "resource type not used": 1}
    assert rep["canonical_rows"]["patients"] == 2
    json.dumps(rep)


def test_ndjson_quarantine_written_with_reason(ndjson_run, spark):
    q = spark.read.parquet(ndjson_run.quarantine_path)
    assert set(q.columns) == {"stage", "source_file", "resource_type", "reason", "record"}
    got = rows(q, "source_file", "reason", where="resource_type = 'Observation'")
    assert ("Observation.000.ndjson", "unknown patient") in got
    assert ("Observation.000.ndjson", "no subject") in got
    broken = q.filter("reason = 'invalid JSON'").collect()
    assert len(broken) == 1 and '"broken"' in broken[0]["record"]


def test_ndjson_patient_fields(ndjson_run):
    p = {r["patient_id"]: r for r in ndjson_run.tables["patients"].collect()}
    p1, p2 = p["p1"], p["p2"]
    assert p1["nhs_number"] == "9990001234" and p2["nhs_number"] == "9990005678"
    assert (p1["given_name"], p1["family_name"]) == ("Ann Marie", "Testpatient")
    assert p1["birth_date"] == D(1960, 5, 1) and p1["sex"] == "female"
    assert p1["lsoa_code"] == "E01000001" and p1["imd_decile"] == 3 and p1["address_care_home"] is True
    assert p1["registration_start"] == D(2010, 1, 1) and p1["registration_end"] is None
    assert p1["practice_id"] == "A12345" and p2["practice_id"] == "B22222"
    assert p1["deceased"] is False and p2["deceased"] is True and p2["death_date"] == D(2024, 2, 3)
    # latest stated ethnicity event wins over the later "not stated" one and over the extension (M)
    assert (p1["ethnicity_code"], p1["ethnicity_group"], p1["ethnicity_category"]) == \
        ("110751000000108", "Asian", "Indian")
    assert p2["ethnicity_code"] is None and p2["imd_decile"] is None and p2["address_care_home"] is None


def test_ndjson_practices_and_pcn(ndjson_run):
    got = rows(ndjson_run.tables["practices"], "practice_id", "practice_name", "pcn_id", "pcn_name")
    assert got == [("A12345", "Test Surgery", "U12345", "Test PCN"), ("B22222", "Lonely Surgery", None, None)]


def test_bp_panel_components_vs_separate_codes(ndjson_run):
    ev = ndjson_run.tables["events"]
    panel = rows(ev, "system", "code", "value", "date", where="source_id = 'Observation/bp-panel'")
    assert panel == [("http://loinc.org", "8462-4", 95.0, D(2025, 3, 4)), ("http://loinc.org", "8480-6", 150.0, D(2025, 3, 4)),
                     ("http://loinc.org", "85354-9", None, D(2025, 3, 4)),
                     ("http://snomed.info/sct", "75367002", None, D(2025, 3, 4))]
    sep = rows(ev, "code", "value", "unit", where="source_id in ('Observation/sbp', 'Observation/dbp')")
    assert sep == [("271649006", 148.0, "mmHg"), ("271650006", 92.0, "mmHg")]


def test_two_codings_give_two_rows_and_partial_dates(ndjson_run):
    ev = ndjson_run.tables["events"]
    weight = rows(ev, "system", "code", "value", "date", where="source_id = 'Observation/weight'")
    assert weight == [("http://loinc.org", "29463-7", 80.5, D(2024, 1, 1)),
                      ("http://snomed.info/sct", "27113001", 80.5, D(2024, 1, 1))]
    assert rows(ev, "date", where="source_id = 'Observation/month'") == [(D(2023, 7, 1),)]
    assert rows(ev, "status", where="source_id = 'Observation/eie'") == [("entered-in-error",)]
    assert rows(ev, "patient_id", "value", where="source_id = 'Observation/gz'") == [("p2", 141.0)]


def test_condition_statuses(ndjson_run):
    got = rows(ndjson_run.tables["events"], "source_id", "status", "date", where="kind = 'condition'")
    assert got == [
        ("Condition/c-abated", "active", D(2019, 1, 1)), ("Condition/c-abated", "resolved", D(2021, 6, 30)),
        ("Condition/c-active", "active", D(2020, 1, 2)),
        ("Condition/c-eie", "entered-in-error", D(2016, 4, 4)),
        ("Condition/c-noabate", "active", D(2018, 1, 1)), ("Condition/c-noabate", "resolved", D(2018, 2, 1)),
        ("Condition/c-refuted", "refuted", D(2017, 3, 3)),
    ]


def test_medications_referrals_encounters(ndjson_run):
    t = ndjson_run.tables
    meds = rows(t["medications"], "source_id", "system", "code", "date", "end_date", "quantity")
    assert meds == [("MedicationRequest/mr1", "http://snomed.info/sct", "318850004", D(2025, 2, 1), D(2025, 3, 1), 28.0),
                    ("MedicationRequest/mr2", "http://snomed.info/sct", "39732311000001104", D(2025, 2, 2), None, None)]
    # s1's outcome is the finished encounter based on it; s2's status says completed, which is no evidence
    assert rows(t["referrals"], "source_id", "code", "priority", "date", "outcome_date") == [
        ("ServiceRequest/s1", "183521007", "urgent", D(2025, 2, 3), D(2025, 2, 20)),
        ("ServiceRequest/s2", "183521007", "urgent", D(2025, 2, 4), None)]
    assert rows(t["encounters"], "source_id", "class", "emergency", "start") == \
        [("Encounter/e1", "emergency", True, D(2025, 1, 5)), ("Encounter/e3", "ambulatory", False, D(2025, 2, 8)),
         ("Encounter/e4", "ambulatory", False, D(2025, 2, 20))]


# --- FHIR Bundles ---------------------------------------------------------------------------------

PA, PB, ORG = "urn:uuid:0a0a0a0a-0000-4000-8000-000000000001", "urn:uuid:0b0b0b0b-0000-4000-8000-000000000002", \
    "urn:uuid:0c0c0c0c-0000-4000-8000-000000000003"


@pytest.fixture(scope="module")
def bundle_run(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("bundles")
    src = base / "in"
    (src / "sub").mkdir(parents=True)
    org = {"resourceType": "Organization", "id": ORG.split(":")[-1],
           "identifier": [{"system": ODS_SYSTEM, "value": "C33333"}], "name": "Bundle Surgery"}
    pa = patient(None, practice_ref=ORG)
    del pa["id"]                                  # transaction: the id comes from the fullUrl
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": PA, "resource": pa, "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": ORG, "resource": org, "request": {"method": "POST", "url": "Organization"}},
        {"fullUrl": "urn:uuid:obs-1", "resource": obs("o1", PA, [(LOINC, "8480-6", "Systolic")], value=162),
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:c-1", "resource": cond("c1", PA, "active", onsetDateTime="2021-05-05"),
         "request": {"method": "POST", "url": "Condition"}},
    ]}
    (src / "transaction.json").write_text(json.dumps(transaction, indent=2))   # pretty-printed, many lines
    collection = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": PB, "resource": patient("pb", nhs="9990002222", practice_ref=ORG)},
        {"fullUrl": ORG, "resource": org},
        {"fullUrl": "urn:uuid:obs-2", "resource": obs("o2", PB, [(SCT, "271650006", "Diastolic")], value=101)},
        {"fullUrl": "urn:uuid:obs-3", "resource": obs("o3", "urn:uuid:not-here", [(SCT, "271650006", "D")], value=1)},
        {"fullUrl": "urn:uuid:sr-b", "resource": {
            "resourceType": "ServiceRequest", "id": "srb", "status": "active", "intent": "order", "subject": {"reference": PB},
            "code": cc((SCT, "276401000000108", "Fast track referral for suspected urological cancer")),
            "authoredOn": "2025-03-01"}},
        {"fullUrl": "urn:uuid:enc-b", "resource": {
            "resourceType": "Encounter", "id": "encb", "status": "finished", "class": {"code": "AMB"},
            "subject": {"reference": PB}, "basedOn": [{"reference": "urn:uuid:sr-b"}],
            "period": {"start": "2025-03-12T09:00:00Z", "end": "2025-03-12T09:30:00Z"}}},
        {"fullUrl": "urn:uuid:nested", "resource": {"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": obs("o4", "Patient/pb", [(SCT, "271649006", "Systolic")], value=171)}]}},
    ]}
    with gzip.open(src / "sub" / "collection.json.gz", "wt") as fh:
        json.dump(collection, fh)
    (src / "response.json").write_text(json.dumps({"resourceType": "Bundle", "type": "transaction-response",
                                                   "entry": [{"response": {"status": "201 Created"}}] * 3}))
    (src / "single.json").write_text(json.dumps(obs("o5", "Patient/pb", [(SCT, "271649006", "S")], value=133)))
    (src / "broken.json").write_text('{"resourceType": "Bundle", "entry": [')
    (src / "package.json").write_text('{"name": "not fhir"}')
    cl, imd = _conf(base)
    return ingest(spark, src, "fhir-bundles", base / "out", codelist_dir=cl, imd_path=imd)


def test_bundles_accounting(bundle_run):
    check_schemas(bundle_run)
    rep = bundle_run.report
    check_invariant(rep)
    assert "Bundle" not in rep["records"]                          # containers are not counted
    assert rep["files"]["read"] == {"ndjson": 0, "json": 5}
    assert rep["files"]["ignored"] == ["package.json"]
    assert rep["records"]["Observation"] == {"read": 5, "ingested": 4, "quarantined": 1, "skipped": 0}
    assert rep["records"]["Patient"]["ingested"] == 2
    assert rep["records"]["Organization"]["read"] == 2
    assert rep["records"]["(none)"] == {"read": 4, "ingested": 0, "quarantined": 1, "skipped": 3}
    assert rep["quarantine_by_type"]["(none)"] == {"invalid JSON": 1}
    assert rep["skip_reasons"]["entry without resource"] == 3


def test_bundle_urn_references_resolve_to_resource_ids(bundle_run):
    t = bundle_run.tables
    pa_id = PA.split(":")[-1]
    assert rows(t["patients"], "patient_id", "practice_id") == [(pa_id, "C33333"), ("pb", "C33333")]
    got = rows(t["events"], "source_id", "patient_id", "code", "value", where="kind = 'observation'")
    assert got == [("Observation/o1", pa_id, "8480-6", 162.0), ("Observation/o2", "pb", "271650006", 101.0),
                   ("Observation/o4", "pb", "271649006", 171.0), ("Observation/o5", "pb", "271649006", 133.0)]
    assert rows(t["events"], "patient_id", "status", where="kind = 'condition'") == [(pa_id, "active")]
    assert rows(t["practices"], "practice_id", "practice_name", "pcn_id") == [("C33333", "Bundle Surgery", None)]
    # Encounter.basedOn urn:uuid → the ServiceRequest's id, whose outcome date it gives
    assert rows(t["referrals"], "source_id", "patient_id", "outcome_date") == [("ServiceRequest/srb", "pb", D(2025, 3, 12))]


def test_bad_format_argument(spark, tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="gp-extract"):
        ingest(spark, tmp_path, "gp-extract", tmp_path / "out")
    with pytest.raises(ConfigError, match="unknown input format"):
        ingest(spark, tmp_path, "hl7v2", tmp_path / "out")


# --- GP extract -----------------------------------------------------------------------------------

EXTRACT = {
    "practices": [("practice_id", "practice_name", "pcn_id", "pcn_name"),
                  ("A11111", "Extract Surgery", "U11111", "Extract PCN"), ("A22222", "No PCN Surgery", "", "")],
    "patients": [("patient_id", "nhs_number", "given_name", "family_name", "birth_date", "sex", "death_date",
                  "lsoa_code", "practice_id", "registration_start", "registration_end", "care_home"),
                 ("x1", "999 000 3333", "Bo", "Extract", "1950-02-03", "male", "", "E01000002", "A11111",
                  "2001-01-01", "", "false"),
                 ("x2", "9990004444", "Cy", "Extract", "not-a-date", "female", "", "", "A22222", "", "", "")],
    "events": [("event_id", "patient_id", "date", "system", "code", "display", "value", "unit", "kind", "status"),
               ("Observation/e1", "x1", "2025-01-02", "snomedct", "271649006", "Systolic", "152", "mmHg",
                "observation", "active"),
               ("Observation/e2", "x1", "2025-13-45", "snomedct", "271649006", "Systolic", "150", "mmHg",
                "observation", "active"),
               ("Observation/e3", "zz", "2025-01-02", "snomedct", "271649006", "Systolic", "150", "mmHg",
                "observation", "active"),
               ("Observation/e4", "x1", "2025-01-03", "loinc", "8462-4", "Diastolic", "ninety", "mmHg",
                "observation", "active"),
               ("Observation/e5", "x1", "", "snomedct", "271649006", "Systolic", "150", "mmHg",
                "observation", "active"),
               ("Observation/e6", "x1", "2020-05-05", "snomedct", "110751000000108", "Indian", "", "",
                "observation", ""),
               ("Observation/e1", "x1", "2025-01-02", "snomedct", "271649006", "Systolic", "152", "mmHg",
                "observation", "active")],
    "medications": [("issue_id", "patient_id", "date", "end_date", "system", "code", "display", "status", "quantity"),
                    ("MedicationRequest/m1", "x1", "2025-02-01", "", "dmd", "39732311000001104", "Ramipril",
                     "active", "28")],
    "referrals": [("referral_id", "patient_id", "date", "system", "code", "display", "priority", "status",
                   "outcome_date"),
                  ("ServiceRequest/r1", "x1", "2025-02-03", "snomedct", "183521007", "Cardiology", "urgent",
                   "completed", "2025-03-01")],
    "encounters": [("encounter_id", "patient_id", "start", "end", "class", "system", "code"),
                   ("Encounter/n1", "x1", "2025-01-05", "2025-01-06", "emergency", "snomedct", "50849002"),
                   ("Encounter/n2", "x1", "2025-01-07", "", "AMB", "", "")],
}


def _write_extract(folder: Path, kind: str) -> None:
    import csv

    import pandas as pd
    folder.mkdir(parents=True)
    for table, data in EXTRACT.items():
        if kind == "csv":
            with (folder / f"{table}.csv").open("w", newline="") as fh:
                csv.writer(fh).writerows(data)
        else:
            pd.DataFrame(data[1:], columns=list(data[0])).replace("", None).to_parquet(folder / f"{table}.parquet")


@pytest.fixture(scope="module", params=["csv", "parquet"])
def extract_run(request, spark, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"extract_{request.param}")
    _write_extract(base / "in", request.param)
    cl, imd = _conf(base)
    return ingest(spark, base / "in", None, base / "out", codelist_dir=cl, imd_path=imd)


def test_extract_accounting_and_quarantine(extract_run, spark):
    check_schemas(extract_run)
    rep = extract_run.report
    check_invariant(rep)
    assert rep["format"] == "gp-extract" and rep["record_unit"] == "row"
    assert rep["records"]["events"] == {"read": 7, "ingested": 3, "quarantined": 4, "skipped": 0}
    assert rep["quarantine_by_type"]["events"] == {"bad date": 1, "bad number": 1, "no date": 1,
                                                   "unknown patient": 1}
    assert rep["quarantine_by_type"]["patients"] == {"bad date": 1}
    q = spark.read.parquet(extract_run.quarantine_path)
    bad = q.filter("resource_type = 'events' and reason = 'bad date'").collect()
    assert len(bad) == 1 and "2025-13-45" in bad[0]["record"]


def test_extract_tables(extract_run):
    t = extract_run.tables
    p = t["patients"].collect()
    assert [r["patient_id"] for r in p] == ["x1"]                 # x2 had a bad birth date
    x1 = p[0]
    assert (x1["nhs_number"], x1["birth_date"], x1["imd_decile"], x1["address_care_home"]) == \
        ("9990003333", D(1950, 2, 3), 9, False)
    assert (x1["ethnicity_code"], x1["ethnicity_group"]) == ("110751000000108", "Asian")
    # the duplicated e1 row is dropped; e6 has no status → active
    assert rows(t["events"], "source_id", "system", "value", "status") == [
        ("Observation/e1", "http://snomed.info/sct", 152.0, "active"),
        ("Observation/e6", "http://snomed.info/sct", None, "active")]
    assert rows(t["medications"], "system", "quantity") == [("http://snomed.info/sct", 28.0)]
    assert rows(t["referrals"], "priority", "outcome_date") == [("urgent", D(2025, 3, 1))]
    assert rows(t["encounters"], "source_id", "class", "emergency") == [
        ("Encounter/n1", "emergency", True), ("Encounter/n2", "ambulatory", False)]
    assert rows(t["practices"], "practice_id", "pcn_id") == [("A11111", "U11111"), ("A22222", None)]
