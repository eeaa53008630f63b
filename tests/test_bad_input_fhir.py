"""Bad FHIR input, one class per test: no crash, a stated reason, and every record accounted for.

Most classes live in one folder with one file per class (``bad_run``, ingested once), so each
assertion can name its file in the quarantine (Parquet: stage, source_file, resource_type, reason,
record). Decisions the engine documents, asserted here:

* a resource in another type's file (an Observation in Patient.ndjson) is ingested as what it is;
* future-dated records are kept (ingest has no run date) and counted against ``as_of`` when given;
* bytes that are not UTF-8 become U+FFFD and the record is kept, the file counted in the report;
* a ``.gz`` Spark cannot read is one quarantined record naming the file; nothing in it is read;
* an analyte value in an unknown unit: the Observation is read and mapped (counted as ingested), its
  row is held back at the canonical checks (``canonical_quarantined``), never converted by a guess;
* a duplicated id: the latest meta.lastUpdated is mapped, an older version or an identical copy is
  skipped, a different version with the same (or no) lastUpdated is quarantined.
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from engine.config import ConfigError, conf_dir
from engine.ingest import ingest
from test_ingest import _conf, cc, check_invariant, obs, patient, qty, rows, write_ndjson

SCT = "http://snomed.info/sct"
SBP = (SCT, "271649006", "Systolic blood pressure")
AS_OF = dt.date(2025, 6, 30)
BIG_TEXT_BYTES = 30 * 1024 * 1024
D = dt.date


def _ldl_code() -> str:
    with (conf_dir() / "codelists" / "ldl_cholesterol.csv").open() as fh:
        lines = [line for line in fh if not line.startswith("#")]
    return next(csv.DictReader(lines))["code"]


def _lines(path: Path, lines: list[str], end: str = "\n") -> None:
    path.write_bytes(end.join(lines).encode("utf-8") + end.encode())


def _bulk_manifest() -> dict:
    return {"transactionTime": "2025-06-01T00:00:00Z", "request": "https://example.org/fhir/$export",
            "requiresAccessToken": True, "output": [{"type": "Patient", "url": "https://example.org/Patient.ndjson"}],
            "error": []}


def _casefind_output(folder: Path) -> None:
    """What a casefind run leaves: a manifest naming the engine, the canonical record, the quarantine."""
    (folder / "canonical" / "patients").mkdir(parents=True)
    (folder / "canonical" / "patients" / "part-00000.parquet").write_bytes(b"PAR1 not read")
    (folder / "quarantine").mkdir()
    (folder / "quarantine" / "part-00000.parquet").write_bytes(b"PAR1 not read")
    (folder / "manifest.json").write_text(json.dumps({"engine": "casefind", "as_of": "2025-01-01"}))


@pytest.fixture(scope="module")
def bad_run(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_fhir")
    src = base / "in"
    src.mkdir()
    org = {"resourceType": "Organization", "id": "org1", "name": "Test Surgery"}
    p2_new = patient("p2", nhs="9990005678", meta={"lastUpdated": "2024-05-01T10:00:00Z"},
                     name=[{"use": "official", "family": "Newer", "given": ["Bea"]}])
    # another type's resource in Patient.ndjson
    write_ndjson(src / "Patient.ndjson", [patient("p1"), p2_new, org,
                                          obs("in-patient-file", "Patient/p1", [SBP], value=141)])
    # truncated last line: no closing brace, no newline
    (src / "truncated.ndjson").write_bytes(
        (json.dumps(obs("t-ok", "Patient/p1", [SBP], value=120)) + "\n"
         + '{"resourceType": "Observation", "id": "t-cut", "status": "fin').encode())
    _lines(src / "midfile.ndjson", [json.dumps(obs("m1", "Patient/p1", [SBP], value=121)),
                                    '{"resourceType": "Observation", "id": "m-bad" "status": "final"}',
                                    json.dumps(obs("m2", "Patient/p1", [SBP], value=122))])
    write_ndjson(src / "subjects.ndjson", [obs("no-subj", None, [SBP], value=123),
                                           obs("who", "Patient/nobody", [SBP], value=124)])
    write_ndjson(src / "dates.ndjson", [
        obs("d-impossible", "Patient/p1", [SBP], value=125, date="2025-13-45"),
        obs("d-words", "Patient/p1", [SBP], value=125, date="last Tuesday"),
        obs("d-year", "Patient/p1", [SBP], value=126, date="2024"),
        obs("d-month", "Patient/p1", [SBP], value=127, date="2023-07"),
        obs("d-future", "Patient/p1", [SBP], value=128, date="2031-01-01T09:00:00Z")])
    write_ndjson(src / "numbers.ndjson", [
        obs("n-high", "Patient/p1", [SBP], value="high"),
        obs("u-ldl", "Patient/p1", [(SCT, _ldl_code(), "LDL cholesterol")], valueQuantity=qty(3.1, "furlongs")),
        obs("u-odd", "Patient/p1", [SBP], valueQuantity=qty(129, "weird"))])
    good_gz = json.dumps(obs("gz-ok", "Patient/p1", [SBP], value=130)) + "\n"
    stream = gzip.compress((good_gz * 2000).encode())
    (src / "corrupt.ndjson.gz").write_bytes(stream[: len(stream) // 2])      # truncated gzip stream
    (src / "plain.ndjson.gz").write_bytes(good_gz.encode())                  # not gzip at all
    write_ndjson(src / "good.ndjson.gz", [obs("gz-good", "Patient/p1", [SBP], value=131)])
    (src / "empty.ndjson").write_bytes(b"")
    (src / "empty.ndjson.gz").write_bytes(b"")      # Spark cannot decompress zero bytes: never read
    latin = json.dumps(obs("latin", "Patient/p1", [(SCT, "271649006", "caf\u00e9")], value=132), ensure_ascii=False)
    (src / "latin1.ndjson").write_bytes(latin.encode("latin-1") + b"\n")
    nul_in_string = json.dumps(obs("nul-1", "Patient/p1", [SBP], value=133)).replace("final", "fi\x00nal")
    (src / "nul.ndjson").write_bytes(nul_in_string.encode() + b"\n"
                                     + b'{"resourceType": "Observation",\x00 "id": "nul-2"}\n')
    big = obs("big", "Patient/p1", [SBP], value=134, note=[{"text": "x" * BIG_TEXT_BYTES}])
    write_ndjson(src / "big.ndjson", [big])
    v_old = obs("dup-v", "Patient/p1", [SBP], value=135, meta={"lastUpdated": "2024-01-01T00:00:00Z"})
    v_new = obs("dup-v", "Patient/p1", [SBP], value=136, meta={"lastUpdated": "2024-06-01T00:00:00+01:00"})
    copy = obs("dup-c", "Patient/p1", [SBP], value=137)
    short = obs("dup-x", "Patient/p1", [SBP], value=138)
    longer = obs("dup-x", "Patient/p1", [SBP], value=139, issued="2025-03-05T10:00:00Z")
    p2_old = patient("p2", nhs="9990005678", meta={"lastUpdated": "2023-01-01"},
                     name=[{"use": "official", "family": "Older", "given": ["Bea"]}])
    write_ndjson(src / "dups.ndjson", [v_new, v_old, copy, copy, short, longer, p2_old])
    _lines(src / "crlf.ndjson", [json.dumps(obs("crlf-1", "Patient/p1", [SBP], value=140)),
                                 json.dumps(obs("crlf-2", "Patient/p1", [SBP], value=141))], end="\r\n")
    write_ndjson(src / "refs.ndjson", [
        obs("abs-url", "https://example.org/fhir/Patient/p1", [SBP], value=142),
        {"resourceType": "MedicationRequest", "id": "mr-contained", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p1"}, "authoredOn": "2025-02-01",
         "contained": [{"resourceType": "Medication", "id": "med1", "code": cc((SCT, "318850004", "Amlodipine"))}],
         "medicationReference": {"reference": "#med1"}}])
    pb = "urn:uuid:0b0b0b0b-0000-4000-8000-0000000000bb"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": pb, "resource": patient("pb", nhs="9990002222")},
        {"fullUrl": "urn:uuid:o-ok", "resource": obs("b-ok", pb, [SBP], value=143)},
        {"fullUrl": "urn:uuid:o-dangling",
         "resource": obs("b-dangling", "urn:uuid:0d0d0d0d-0000-4000-8000-00000000dead", [SBP], value=144)}]}
    (src / "bundle-dangling.json").write_text(json.dumps(bundle, indent=1))
    (src / "bundle-truncated.json").write_text(json.dumps(bundle, indent=1)[:300])
    (src / "manifest.json").write_text(json.dumps(_bulk_manifest()))
    _casefind_output(src / "previous_run")
    cl, imd = _conf(base)
    result = ingest(spark, src, None, base / "out", codelist_dir=cl, imd_path=imd, as_of=AS_OF)
    q = spark.read.parquet(result.quarantine_path)
    quarantine = [(r["stage"], r["source_file"], r["resource_type"], r["reason"], r["record"]) for r in q.collect()]
    return result, quarantine


def _q(bad_run, source_file: str) -> list[tuple]:
    """(stage, resource_type, reason) of every quarantined record from one file ("(none)": no type)."""
    return sorted((s, t or "(none)", r) for s, f, t, r, _ in bad_run[1] if f == source_file)


def test_every_record_accounted_for(bad_run):
    rep = bad_run[0].report
    check_invariant(rep)
    assert rep["format"] == "fhir-ndjson"
    assert sum(rep["quarantine_reasons"].values()) == rep["totals"]["quarantined"]
    assert sum(rep["skip_reasons"].values()) == rep["totals"]["skipped"]
    read_stage = [x for x in bad_run[1] if x[0] == "read"]
    assert len(read_stage) == rep["totals"]["quarantined"]
    # the stage files (every record, identifiable) are gone once the canonical tables are written
    assert not (Path(bad_run[0].quarantine_path).parent / "_ingest_work").exists()


def test_truncated_last_line(bad_run):
    assert _q(bad_run, "truncated.ndjson") == [("read", "(none)", "invalid JSON")]
    assert rows(bad_run[0].tables["events"], "source_id", where="source_id = 'Observation/t-ok'") == \
        [("Observation/t-ok",)]


def test_invalid_json_mid_file(bad_run):
    assert _q(bad_run, "midfile.ndjson") == [("read", "(none)", "invalid JSON")]
    got = rows(bad_run[0].tables["events"], "source_id", where="source_id in ('Observation/m1', 'Observation/m2')")
    assert got == [("Observation/m1",), ("Observation/m2",)]


def test_resource_in_another_types_file_is_ingested_as_itself(bad_run):
    rep = bad_run[0].report
    assert _q(bad_run, "Patient.ndjson") == []
    assert rows(bad_run[0].tables["events"], "patient_id", "value",
                where="source_id = 'Observation/in-patient-file'") == [("p1", 141.0)]
    assert rep["records"]["Organization"]["ingested"] == 1


def test_no_subject_and_unknown_subject(bad_run):
    assert _q(bad_run, "subjects.ndjson") == [("read", "Observation", "no subject"),
                                              ("read", "Observation", "unknown patient")]


def test_unparseable_partial_and_future_dates(bad_run):
    assert _q(bad_run, "dates.ndjson") == [("read", "Observation", "bad date")] * 2
    ev = bad_run[0].tables["events"]
    assert rows(ev, "source_id", "date", where="source_id in ('Observation/d-year', 'Observation/d-month', "
                                               "'Observation/d-future')") == [
        ("Observation/d-future", D(2031, 1, 1)), ("Observation/d-month", D(2023, 7, 1)),
        ("Observation/d-year", D(2024, 1, 1))]
    rep = bad_run[0].report
    assert rep["as_of"] == "2025-06-30"
    assert rep["dated_after_as_of"] == {"events": 1, "medications": 0, "referrals": 0, "encounters": 0}


def test_string_where_a_number_belongs_and_unknown_unit(bad_run):
    assert _q(bad_run, "numbers.ndjson") == [("canonical", "events", "unknown unit"),
                                             ("read", "Observation", "bad number")]
    ldl = [rec for s, f, t, r, rec in bad_run[1] if r == "unknown unit"]
    assert len(ldl) == 1 and "furlongs" in ldl[0]
    # a unit nobody converts is kept as recorded
    assert rows(bad_run[0].tables["events"], "value", "unit", where="source_id = 'Observation/u-odd'") == \
        [(129.0, "weird")]
    assert bad_run[0].report["canonical_quarantined"]["events"] == {"unknown unit": 1}


def test_corrupt_gzip_and_plain_file_named_gz(bad_run):
    rep = bad_run[0].report
    assert _q(bad_run, "corrupt.ndjson.gz") == [("read", "(none)", "corrupt or truncated file (not read)")]
    assert _q(bad_run, "plain.ndjson.gz") == [("read", "(none)", "file named .gz is not gzip (not read)")]
    assert rep["files"]["unreadable"] == {"corrupt.ndjson.gz": "corrupt or truncated file (not read)",
                                          "plain.ndjson.gz": "file named .gz is not gzip (not read)"}
    assert rep["records"]["(none)"]["quarantined"] >= 2
    # nothing of the corrupt stream is half-read; the good gzip beside it is read
    ev = bad_run[0].tables["events"]
    assert rows(ev, "source_id", where="source_id like 'Observation/gz-%'") == [("Observation/gz-good",)]


def test_empty_file(bad_run):
    rep = bad_run[0].report
    assert rep["files"]["empty"] == ["empty.ndjson", "empty.ndjson.gz"]
    assert _q(bad_run, "empty.ndjson") == [] and _q(bad_run, "empty.ndjson.gz") == []
    assert "empty.ndjson.gz" not in rep["files"]["unreadable"]


def test_non_utf8_bytes_are_replaced_and_counted(bad_run):
    assert _q(bad_run, "latin1.ndjson") == []
    assert bad_run[0].report["files"]["invalid_utf8"] == {"latin1.ndjson": 1}
    got = rows(bad_run[0].tables["events"], "display", "value", where="source_id = 'Observation/latin'")
    assert got == [("caf\ufffd", 132.0)]


def test_nul_bytes(bad_run):
    assert _q(bad_run, "nul.ndjson") == [("read", "(none)", "invalid JSON")] * 2


def test_thirty_megabyte_line(bad_run):
    assert _q(bad_run, "big.ndjson") == []
    assert rows(bad_run[0].tables["events"], "value", where="source_id = 'Observation/big'") == [(134.0,)]


def test_duplicate_ids_latest_last_updated_wins(bad_run):
    rep = bad_run[0].report
    ev = bad_run[0].tables["events"]
    assert rows(ev, "value", where="source_id = 'Observation/dup-v'") == [(136.0,)]
    assert rows(ev, "value", where="source_id = 'Observation/dup-c'") == [(137.0,)]
    assert rows(ev, "value", where="source_id = 'Observation/dup-x'") == [(139.0,)]     # the longer text
    assert _q(bad_run, "dups.ndjson") == [("read", "Observation", "duplicate id, same or no meta.lastUpdated")]
    assert rep["skip_reasons"]["duplicate id, older meta.lastUpdated"] == 2           # dup-v and p2
    assert rep["skip_reasons"]["duplicate id, identical copy"] == 1
    p2 = [r for r in bad_run[0].tables["patients"].collect() if r["patient_id"] == "p2"]
    assert [r["family_name"] for r in p2] == ["Newer"]
    assert rep["records"]["Patient"] == {"read": 4, "ingested": 3, "quarantined": 0, "skipped": 1}


def test_crlf_line_endings(bad_run):
    assert _q(bad_run, "crlf.ndjson") == []
    got = rows(bad_run[0].tables["events"], "source_id", where="source_id like 'Observation/crlf-%'")
    assert got == [("Observation/crlf-1",), ("Observation/crlf-2",)]


def test_absolute_url_and_contained_references(bad_run):
    t = bad_run[0].tables
    assert _q(bad_run, "refs.ndjson") == []
    assert rows(t["events"], "patient_id", where="source_id = 'Observation/abs-url'") == [("p1",)]
    assert rows(t["medications"], "patient_id", "code", where="source_id = 'MedicationRequest/mr-contained'") == \
        [("p1", "318850004")]


def test_dangling_urn_uuid_in_a_bundle(bad_run):
    assert _q(bad_run, "bundle-dangling.json") == [("read", "Observation", "urn:uuid reference not in its Bundle")]
    assert rows(bad_run[0].tables["events"], "patient_id", where="source_id = 'Observation/b-ok'") == [("pb",)]


def test_truncated_bundle_file(bad_run):
    assert _q(bad_run, "bundle-truncated.json") == [("read", "(none)", "invalid JSON")]


def test_bulk_export_manifest_and_old_output_are_not_data(bad_run):
    rep = bad_run[0].report
    assert "manifest.json" in rep["files"]["ignored"]
    assert "previous_run/" in rep["files"]["ignored"]
    assert not any(f.startswith("previous_run") for f in rep["files"]["ignored"] if f != "previous_run/")
    assert rep["files"]["read"] == {"ndjson": 17, "json": 2}
    assert _q(bad_run, "manifest.json") == []


# --- refused before Spark reads anything ------------------------------------------------------------

def _one_line_error(spark, folder: Path, out: Path) -> str:
    with pytest.raises(ConfigError) as err:
        ingest(spark, folder, None, out)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_empty_folder_is_refused(spark, tmp_path):
    (tmp_path / "in").mkdir()
    assert _one_line_error(spark, tmp_path / "in", tmp_path / "out") == f"input folder {tmp_path / 'in'} is empty"


def test_casefind_output_given_as_input_is_refused(spark, tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    _casefind_output(out)
    (out / "Patient.ndjson").write_text(json.dumps(patient("p1")) + "\n")
    msg = _one_line_error(spark, out, tmp_path / "out")
    assert msg.startswith(f"{out} is a casefind output folder, not an input")
    msg = _one_line_error(spark, out / "canonical", tmp_path / "out")
    assert msg.startswith(f"{out / 'canonical'} is a casefind output folder, not an input")


def test_only_a_bulk_export_manifest_is_no_input(spark, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "manifest.json").write_text(json.dumps(_bulk_manifest()))
    assert "has no .ndjson" in _one_line_error(spark, tmp_path / "in", tmp_path / "out")
