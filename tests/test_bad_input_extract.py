"""GP extracts as real exports write them, and as they go wrong: each bad-input class either reads
correctly, is quarantined with its reason and ``file:line``, or stops with a one-line ConfigError.

Two small extracts (CSV and Parquet) are ingested once each; the ConfigError cases stop before any
Spark job runs.
"""
from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.config import ConfigError
from engine.ingest import ingest
from test_ingest import D, _conf, check_invariant

PATIENT_COLS = ("patient_id,nhs_number,given_name,family_name,birth_date,sex,death_date,lsoa_code,"
                "practice_id,registration_start,registration_end,care_home")
EVENT_COLS = "event_id,patient_id,date,system,code,display,value,unit,kind,status"

# patients.csv: UTF-8 BOM, LF. Physical lines on the right.
PATIENTS = "\ufeff" + "\n".join([
    PATIENT_COLS,                                                                        # 1
    'p1,9990000001,"Ann\nMarie",Smith,1950-02-03,female,,E01000001,A11111,2001-01-01,,false',  # 2-3
    'p2,9990000002,Bo,"O\rBrien",1960-04-05,male,,E01000002,A11111,2001-01-01,,false',   # 4
    "p3,9990000003,Cy,Jones,31/03/1950,female,,,A11111,,,",                             # 5
    "p4,9990000004,Di,Lee,1970-01-01,female,,,A11111,,,,SURPLUS",                        # 6
    "p5,9990000005,Ed,Kim,1970-01-01",                                                  # 7
    "p6,9990000006,Fi,Roe,1980-06-07,female,,,A11111,2001-01-01,,",                     # 8
]) + "\n"

# events.csv: CRLF, a column the engine does not use, a quoted CRLF inside a field.
EVENTS = "\r\n".join([
    EVENT_COLS + ",local_note",                                                                        # 1
    'Observation/e1,p1,2025-01-02,snomedct,271649006,"Systolic\r\nBP",152,mmHg,observation,active,note-secret-1',  # 2-3
    "Observation/e2,p1,31/03/2025,snomedct,271649006,Systolic,150,mmHg,observation,active,note-secret-2",  # 4
    "Observation/e3,p2,2025-01-03,snomedct,271649006,Systolic,140,mmHg,observation,active",             # 5
    'Observation/e4,p6,2025-01-04,snomedct,271649006,"Sys"tolic,140,mmHg,observation,active,x',         # 6
    "Observation/e5,p6,2025-01-05,snomedct,271649006,Systolic,141,mmHg,observation,active,note-secret-5",  # 7
]) + "\r\n"

# medications.csv.gz: gzip, BOM, a quoted newline, then a short row.
MEDICATIONS = "\ufeff" + "\n".join([
    "issue_id,patient_id,date,end_date,system,code,display,status,quantity",                       # 1
    'MedicationRequest/m1,p1,2025-02-01,,dmd,39732311000001104,"Ramipril\n2.5mg",active,28',       # 2-3
    "MedicationRequest/m2,p6,2025-02-02,,dmd,39732311000001104,Ramipril,active",                   # 4
]) + "\n"

# referrals.csv.gz: cut off half way through the compressed stream (an interrupted copy).
REFERRALS = "\n".join(
    ["referral_id,patient_id,date,system,code,display,priority,status,outcome_date"]
    + [f"ServiceRequest/r{i},p6,2025-02-{1 + i % 28:02d},snomedct,183521007,Cardiology {i * 7919 % 10007},urgent,"
       "completed," for i in range(300)]) + "\n"


def _write_csv_extract(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "practices.csv").write_text("practice_id,practice_name,pcn_id,pcn_name\nA11111,Surgery,U11111,PCN\n")
    (folder / "patients.csv").write_bytes(PATIENTS.encode("utf-8"))
    (folder / "events.csv").write_bytes(EVENTS.encode("utf-8"))
    with gzip.open(folder / "medications.csv.gz", "wb") as fh:
        fh.write(MEDICATIONS.encode("utf-8"))
    whole = gzip.compress(REFERRALS.encode("utf-8"))
    (folder / "referrals.csv.gz").write_bytes(whole[: len(whole) // 2])


@pytest.fixture(scope="module")
def csv_run(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_extract_csv")
    _write_csv_extract(base / "in")
    cl, imd = _conf(base)
    logger = logging.getLogger("engine.ingest.gp_extract")
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        result = ingest(spark, base / "in", None, base / "out", codelist_dir=cl, imd_path=imd)
    finally:
        logger.removeHandler(handler)
    q = spark.read.parquet(result.quarantine_path).filter("stage = 'read'").collect()
    quarantine = {(r["resource_type"], r["source_file"]): (r["reason"], r["record"]) for r in q}
    patients = {r["patient_id"]: r for r in result.tables["patients"].collect()}
    return result, quarantine | {"_rows": len(q)}, patients, records


def test_csv_accounting_counts_records_not_lines(csv_run):
    result, _, _, _ = csv_run
    rep = result.report
    check_invariant(rep)
    assert rep["records"]["patients"] == {"read": 6, "ingested": 3, "quarantined": 3, "skipped": 0}
    assert rep["records"]["events"] == {"read": 5, "ingested": 2, "quarantined": 3, "skipped": 0}
    assert rep["records"]["medications"] == {"read": 2, "ingested": 1, "quarantined": 1, "skipped": 0}


def test_every_quarantined_row_names_its_file_and_first_line(csv_run):
    _, quarantine, _, _ = csv_run
    assert quarantine["_rows"] == len(quarantine) - 1, "two quarantined rows share a file and line"
    assert {k: v[0] for k, v in quarantine.items() if k != "_rows"} == {
        ("patients", "patients.csv:5"): "bad date",
        ("patients", "patients.csv:6"): "wrong number of fields",
        ("patients", "patients.csv:7"): "wrong number of fields",
        ("events", "events.csv:4"): "bad date",
        ("events", "events.csv:5"): "wrong number of fields",
        ("events", "events.csv:6"): "unreadable CSV record",
        ("medications", "medications.csv.gz:4"): "wrong number of fields",
        ("referrals", "referrals.csv.gz"): "unreadable CSV record",
    }


def test_quoted_newline_keeps_the_patient_whole(csv_run):
    result, _, patients, _ = csv_run
    p1 = patients["p1"]
    assert (p1["given_name"], p1["birth_date"], p1["practice_id"], p1["lsoa_code"]) == \
        ("Ann\nMarie", D(1950, 2, 3), "A11111", "E01000001")
    ev = {r["source_id"]: r for r in result.tables["events"].collect()}
    assert ev["Observation/e1"]["display"] == "Systolic\r\nBP" and ev["Observation/e1"]["value"] == 152.0


def test_quoted_cr_stays_in_its_field(csv_run):
    _, _, patients, _ = csv_run
    p2 = patients["p2"]
    assert (p2["family_name"], p2["birth_date"], p2["sex"]) == ("O\rBrien", D(1960, 4, 5), "male")


def test_bom_is_not_part_of_the_first_column_name(csv_run):
    # With the BOM kept, the first column would be "\ufeffpatient_id" and the table would have no
    # patient_id column at all.
    _, _, patients, _ = csv_run
    assert sorted(patients) == ["p1", "p2", "p6"]


def test_crlf_line_ends_leave_no_cr_in_the_last_column(csv_run):
    result, _, _, _ = csv_run
    ev = result.tables["events"].collect()
    assert sorted((r["source_id"], r["status"]) for r in ev) == [
        ("Observation/e1", "active"), ("Observation/e5", "active")]


def test_ragged_rows_are_quarantined_not_padded_or_cut(csv_run):
    _, quarantine, patients, _ = csv_run
    assert "p4" not in patients and "p5" not in patients
    too_many = json.loads(quarantine[("patients", "patients.csv:6")][1])["fields"]
    too_few = json.loads(quarantine[("patients", "patients.csv:7")][1])["fields"]
    assert (len(too_many), too_many[-1]) == (13, "SURPLUS")
    assert too_few == ["p5", "9990000005", "Ed", "Kim", "1970-01-01"]


def test_gzipped_csv_with_bom_and_quoted_newline(csv_run):
    result, quarantine, _, _ = csv_run
    meds = result.tables["medications"].collect()
    assert [(r["source_id"], r["display"], r["quantity"]) for r in meds] == \
        [("MedicationRequest/m1", "Ramipril\n2.5mg", 28.0)]
    assert json.loads(quarantine[("medications", "medications.csv.gz:4")][1])["fields"][0] == "MedicationRequest/m2"


def test_truncated_gzip_keeps_the_rows_before_the_cut_and_says_so(csv_run):
    result, quarantine, _, _ = csv_run
    counts = result.report["records"]["referrals"]
    kept = counts["ingested"]
    assert 0 < kept < 300
    assert counts == {"read": kept + 1, "ingested": kept, "quarantined": 1, "skipped": 0}
    ids = sorted(int(r["source_id"].split("r")[-1]) for r in result.tables["referrals"].collect())
    assert ids == list(range(kept))
    error = json.loads(quarantine[("referrals", "referrals.csv.gz")][1])["error"]
    assert f"line {kept + 1}" in error and "not read" in error


def test_dd_mm_yyyy_dates_are_bad_dates_never_guessed(csv_run):
    _, quarantine, patients, _ = csv_run
    assert "p3" not in patients
    assert quarantine[("patients", "patients.csv:5")][0] == "bad date"
    assert quarantine[("events", "events.csv:4")][0] == "bad date"
    assert json.loads(quarantine[("events", "events.csv:4")][1])["date"] == "31/03/2025"


def test_bad_quoting_costs_one_record(csv_run):
    _, quarantine, _, _ = csv_run
    reason, record = quarantine[("events", "events.csv:6")]
    assert reason == "unreadable CSV record"
    assert json.loads(record)["text"].startswith("Observation/e4,")


def test_extra_column_is_named_in_a_warning_without_values(csv_run):
    _, _, _, records = csv_run
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "events" in warnings[0] and "events.csv" in warnings[0] and "local_note" in warnings[0]
    logged = " ".join(r.getMessage() for r in records)
    for value in ("note-secret", "9990000001", "Smith", "1950-02-03", "Marie"):
        assert value not in logged


# --- stops with a ConfigError (no Spark job runs) ------------------------------------------------

def _minimal(folder: Path, events: str | None = None, patients: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "patients.csv").write_text(patients or f"{PATIENT_COLS}\np1,,,,1950-01-01,,,,A1,,,\n")
    if events is not None:
        (folder / "events.csv").write_text(events)
    return folder


def _config_error(spark, folder: Path) -> str:
    with pytest.raises(ConfigError) as err:
        ingest(spark, folder, "gp-extract", folder.parent / "out")
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_missing_required_column_names_table_file_and_column(spark, tmp_path):
    src = _minimal(tmp_path / "in", events="event_id,patient_id,code\ne1,p1,271649006\n")
    msg = _config_error(spark, src)
    assert "events" in msg and "events.csv" in msg and "'date'" in msg
    assert "271649006" not in msg


def test_header_differing_between_files_of_one_table_names_both(spark, tmp_path):
    src = _minimal(tmp_path / "in")
    (src / "2024").mkdir()
    (src / "2025").mkdir()
    (src / "2024" / "events.csv").write_text(f"{EVENT_COLS}\ne1,p1,2024-01-01,snomedct,1,,,,,\n")
    (src / "2025" / "events.csv").write_text("event_id,patient_id,date,system,code\ne2,p1,2025-01-01,snomedct,1\n")
    msg = _config_error(spark, src)
    assert "2024/events.csv" in msg and "2025/events.csv" in msg and "different header" in msg


def test_semicolon_separated_file_is_refused_clearly(spark, tmp_path):
    src = _minimal(tmp_path / "in", patients="patient_id;birth_date\np1;1950-01-01\n")
    msg = _config_error(spark, src)
    assert "patients.csv" in msg and "semicolon" in msg and "comma-separated" in msg


def test_gz_file_that_is_not_gzip_is_refused_clearly(spark, tmp_path):
    src = _minimal(tmp_path / "in")
    (src / "events.csv.gz").write_text(f"{EVENT_COLS}\n")
    msg = _config_error(spark, src)
    assert "events.csv.gz" in msg and "not gzip" in msg


def test_bare_cr_line_endings_are_refused_clearly(spark, tmp_path):
    src = _minimal(tmp_path / "in", patients="patient_id,birth_date\rp1,1950-01-01\r")
    msg = _config_error(spark, src)
    assert "patients.csv" in msg and "CR" in msg


def test_parquet_struct_column_names_table_and_column(spark, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(pa.table({"patient_id": ["p1"], "birth_date": ["1950-01-01"]}), src / "patients.parquet")
    pq.write_table(pa.table({"patient_id": ["p1"], "date": ["2025-01-01"],
                             "code": [{"system": "snomedct", "code": "1"}]}), src / "events.parquet")
    msg = _config_error(spark, src)
    assert "events" in msg and "'code'" in msg and "events.parquet" in msg and "struct" in msg


# --- Parquet with types other than strings --------------------------------------------------------

@pytest.fixture(scope="module")
def parquet_run(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_extract_parquet")
    src = base / "in"
    src.mkdir()
    pq.write_table(pa.table({"patient_id": ["p1"], "birth_date": pa.array([D(1950, 2, 3)], pa.date32()),
                             "practice_id": ["A11111"]}), src / "patients.parquet")
    pq.write_table(pa.table({"event_id": ["e1", "e2"], "patient_id": ["p1", "p1"],
                             "date": pa.array([20250331, 20250401], pa.int64()), "code": ["271649006"] * 2,
                             "value": ["152", "150"]}), src / "events.parquet")
    pq.write_table(pa.table({"issue_id": ["m1"], "patient_id": ["p1"], "date": pa.array([D(2025, 2, 1)], pa.date32()),
                             "code": ["39732311000001104"], "quantity": ["28"]}), src / "medications.parquet")
    cl, imd = _conf(base)
    result = ingest(spark, src, None, base / "out", codelist_dir=cl, imd_path=imd)
    q = spark.read.parquet(result.quarantine_path).filter("stage = 'read'").collect()
    return result, q


def test_parquet_integer_dates_are_bad_dates(parquet_run):
    result, q = parquet_run
    check_invariant(result.report)
    assert result.report["records"]["events"] == {"read": 2, "ingested": 0, "quarantined": 2, "skipped": 0}
    assert sorted((r["reason"], r["source_file"], json.loads(r["record"])["date"]) for r in q) == [
        ("bad date", "events.parquet", "20250331"), ("bad date", "events.parquet", "20250401")]


def test_parquet_typed_columns_are_read_as_their_text(parquet_run):
    result, _ = parquet_run
    assert [(r["patient_id"], r["birth_date"]) for r in result.tables["patients"].collect()] == [("p1", D(1950, 2, 3))]
    assert [(r["date"], r["quantity"]) for r in result.tables["medications"].collect()] == [(D(2025, 2, 1), 28.0)]


# --- event status outside the canonical vocabulary -------------------------------------------------

STATUSES = {    # event id → (status cell, canonical status, or None: quarantined as "unknown status")
    "s1": ("final", "active"), "s2": ("Amended", "active"), "s3": (" corrected ", "active"),
    "s4": ("inactive", "resolved"), "s5": ("REMISSION", "resolved"), "s6": ("resolved", "resolved"),
    "s7": ("Active", "active"), "s8": ("refuted", "refuted"), "s9": ("entered-in-error", "entered-in-error"),
    "s10": ("", "active"), "s11": ("preliminary", None), "s12": ("unknown", None), "s13": ("entered in error", None),
}


@pytest.fixture(scope="module")
def status_run(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("extract_status")
    src = _minimal(base / "in", patients=f"{PATIENT_COLS}\np1,,,,1950-01-01,,,,A1,,,\n")
    lines = [EVENT_COLS] + [f'{eid},p1,2025-01-0{1 + i % 9},snomedct,38341003,Hypertension,,,condition,"{cell}"'
                            for i, (eid, (cell, _)) in enumerate(STATUSES.items())]
    (src / "events.csv").write_text("\n".join(lines) + "\n")
    cl, imd = _conf(base)
    result = ingest(spark, src, "gp-extract", base / "out", codelist_dir=cl, imd_path=imd)
    q = spark.read.parquet(result.quarantine_path).filter("resource_type = 'events'").collect()
    return result, q


def test_event_status_values_fhir_defines_are_mapped(status_run):
    result, _ = status_run
    got = {r["source_id"]: r["status"] for r in result.tables["events"].collect()}
    assert got == {eid: status for eid, (_, status) in STATUSES.items() if status is not None}


def test_event_status_outside_the_vocabulary_is_quarantined_and_counted(status_run):
    result, q = status_run
    check_invariant(result.report)
    assert result.report["records"]["events"] == {"read": 13, "ingested": 10, "quarantined": 3, "skipped": 0}
    assert result.report["quarantine_by_type"]["events"] == {"unknown status": 3}
    assert sorted((r["stage"], r["reason"], r["source_file"], json.loads(r["record"])["status"]) for r in q) == [
        ("read", "unknown status", "events.csv:12", "preliminary"),
        ("read", "unknown status", "events.csv:13", "unknown"),
        ("read", "unknown status", "events.csv:14", "entered in error")]
