"""Ingest side by side: our Spark ingest against four other ways of reading the same FHIR NDJSON.

    pip install -e '.[bench]'        # duckdb and orjson: this script only, never the engine
    python benchmarks/ingest.py [--patients 100000] [--work /tmp/casefind-ingest-bench]
                                [--skip duckdb bare ...] [--keep] [--driver-memory 3g]

One invocation, one generated FHIR bulk NDJSON folder (``<work>/n<patients>/input``, written by
``casefind generate --pcns 3 --format fhir-ndjson`` and reused when it is already there), every
contender in turn (never two at once), each as its own process:

- ``ours``: ``engine.ingest.ingest(spark, input, None, out)``, whatever that function is at run
  time, in a process that builds its session with ``engine.spark.get_spark`` (as ``casefind
  ingest`` does) with Spark's event log on (``CASEFIND_EVENT_LOG``). Stages = the
  ``SparkListenerStageCompleted`` events in that log.
- ``duckdb``: DuckDB ``read_json`` with every column typed (no inference), one thread per core,
  writing the canonical tables (patients, practices, events, medications, referrals, encounters)
  as Parquet under the work folder. It does what the engine's mapping does for clean bulk NDJSON:
  one row per coding, Condition active/resolved/refuted rows, Observation components, partial dates,
  Procedure/Observation status, MedicationRequest validity and quantity, referral outcome dates
  from Encounter.basedOn, encounter classes, practices and PCNs from Organization, IMD deciles,
  rows of unknown patients and undated rows dropped, exact duplicate rows dropped. It does NOT:
  write a quarantine or count reasons (bad dates and numbers silently become null), resolve
  ``urn:uuid:`` / contained / Medication references, choose between duplicate resource versions,
  read Bundles or gzip, derive ethnicity from events through the codelist (the extension's code is
  kept, group and category are null), or normalise units.
- ``bare``: every line parsed by orjson, one process per core (multiprocessing), nothing else:
  the floor for any reader that parses JSON in Python.
- ``spark-infer``: ``spark.read.json`` of every NDJSON file with schema inference, then a ``noop``
  write so every column of every line is parsed (``count()`` alone would skip the parse). Session
  as for ``ours``; Spark start excluded.
- ``fhir-resources``: ``fhir.resources.R4B`` ``get_fhir_model_class(type).model_validate_json``
  on a sample (2,000 lines, spread over the resource types in proportion), timed in one process
  and extrapolated to every line and divided by the cores: a SAMPLE, EXTRAPOLATED, not a run.

Figures, per contender: ``seconds`` = the work alone, timed inside the process (no interpreter,
import or Spark start); ``process s`` = the whole process, as the parent saw it; ``peak MiB`` =
the largest resident set of the process tree (Python plus JVM, or pool workers), sampled every
0.5 s by ``benchmarks/run.py``'s ``timed``; ``× ours`` = seconds / ours' seconds. Targets: ours /
DuckDB ≤ 2×, Spark-inference / ours ≥ 3×, ours' peak ≤ 3 GiB. Prints them and writes the
"Ingest side by side" section of benchmarks/RESULTS.md, leaving the other sections alone. Files are
read once before any contender runs, so all of them read from the page cache. Not a test.

Each contender alone (what the parent runs; prints its figures as one JSON line):

    python benchmarks/ingest.py --child {ours,duckdb,bare,spark-infer,fhir-resources} INPUT OUT [--cores 2]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from facts import event_counts, write_section  # noqa: E402
from run import timed  # noqa: E402

CONTENDERS = ("ours", "duckdb", "bare", "spark-infer", "fhir-resources")
SPARK_CONTENDERS = ("ours", "spark-infer")
SAMPLE_LINES = 2000
RSS_TARGET_MIB = 3 * 1024
BEGIN, END = "<!-- ingest benchmark: begin -->", "<!-- ingest benchmark: end -->"
RESULT = "INGEST-BENCH-RESULT "   # the line a child process reports its figures on


# --- the input folder ------------------------------------------------------------------------

def resource_files(folder: Path) -> dict[str, list[Path]]:
    """NDJSON files by the resourceType of their first line (bulk export: one type per file)."""
    groups: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.ndjson")):
        with path.open("rb") as fh:
            first = next((line for line in fh if line.strip()), None)
        if first is not None:
            groups.setdefault(json.loads(first)["resourceType"], []).append(path)
    return groups


def line_counts(groups: dict[str, list[Path]]) -> dict[str, int]:
    """Non-blank lines per resource type; also pulls every file into the page cache, so no
    contender pays for the disk and the others not."""
    counts = {}
    for rtype, paths in groups.items():
        n = 0
        for path in paths:
            with path.open("rb") as fh:
                n += sum(1 for line in fh if line.strip())
        counts[rtype] = n
    return counts


def ensure_input(n: int, data: Path) -> None:
    """Generate the folder unless a generation of the same size is already there (100k: minutes)."""
    meta = data / "generator.json"
    if meta.is_file() and json.loads(meta.read_text()).get("n_patients") == n:
        print(f"reusing {data}")
        return
    shutil.rmtree(data, ignore_errors=True)
    data.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {n} patients into {data} ...", flush=True)
    subprocess.run([sys.executable, "-m", "engine.cli", "generate", "--patients", str(n), "--pcns", "3",
                    "--format", "fhir-ndjson", "--out", str(data)], cwd=REPO, check=True)


# --- contenders, each run as a child process -------------------------------------------------

def _report(figures: dict) -> None:
    print(RESULT + json.dumps(figures), flush=True)


def _session(driver_memory: str | None):
    sys.path.insert(0, str(REPO))     # the working tree's engine, whatever is installed
    from engine.spark import get_spark
    extra = {"spark.driver.memory": driver_memory} if driver_memory else None
    return get_spark(loopback=os.environ.get("CASEFIND_LOOPBACK", "1") == "1", extra=extra)


def child_ours(data: Path, out: Path, driver_memory: str | None) -> None:
    import logging
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spark = _session(driver_memory)
    from engine.ingest import ingest
    t0 = time.monotonic()
    result = ingest(spark, data, None, out)
    seconds = time.monotonic() - t0
    report = result.report
    # stop before reporting: the event log is complete only once the application has ended
    spark.stop()
    canon_q = sum(n for reasons in report.get("canonical_quarantined", {}).values() for n in reasons.values())
    _report({"seconds": seconds, "read": report["totals"]["read"], "rows": report.get("canonical_rows", {}),
             "quarantined": report["totals"].get("quarantined"), "canonical_quarantined": canon_q})


def child_spark_infer(data: Path, out: Path, driver_memory: str | None) -> None:
    spark = _session(driver_memory)
    paths = [str(p) for files in resource_files(data).values() for p in files]
    t0 = time.monotonic()
    df = spark.read.json(paths)
    # noop still parses every column of every line; count() would let Spark skip the parse
    df.write.format("noop").mode("overwrite").save()
    seconds = time.monotonic() - t0
    columns = len(df.columns)
    spark.stop()
    _report({"seconds": seconds, "inferred_top_level_columns": columns})


def _chunks(paths: list[Path], pieces: int) -> list[tuple[str, int, int]]:
    """(path, start, end) byte ranges cut at line ends, ~``pieces`` in all, so the workers stay
    busy to the end even though Observation is most of the bytes."""
    total = sum(p.stat().st_size for p in paths)
    step = max(1 << 20, total // pieces)
    out = []
    for path in paths:
        size = path.stat().st_size
        with path.open("rb") as fh:
            start = 0
            while start < size:
                fh.seek(min(start + step, size))
                fh.readline()
                end = min(fh.tell(), size)
                out.append((str(path), start, end))
                start = end
    return out


def _parse_chunk(chunk: tuple[str, int, int]) -> int:
    import orjson
    path, start, end = chunk
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    n = 0
    for line in data.splitlines():
        if line.strip():
            orjson.loads(line)
            n += 1
    return n


def child_bare(data: Path, out: Path, cores: int) -> None:
    import multiprocessing
    paths = [p for files in resource_files(data).values() for p in files]
    t0 = time.monotonic()
    with multiprocessing.Pool(cores) as pool:
        lines = sum(pool.imap_unordered(_parse_chunk, _chunks(paths, cores * 16)))
    _report({"seconds": time.monotonic() - t0, "lines": lines})


def _sample(groups: dict[str, list[Path]], counts: dict[str, int], size: int) -> list[tuple[str, bytes]]:
    """About ``size`` lines, each type in proportion to its lines (at least one), evenly spread
    through its files rather than the first ones (the generator writes patient by patient)."""
    total = sum(counts.values())
    sample = []
    for rtype, paths in groups.items():
        want = max(1, round(size * counts[rtype] / total))
        every = max(1, counts[rtype] // want)
        i = taken = 0
        for path in paths:
            with path.open("rb") as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    if i % every == 0 and taken < want:
                        sample.append((rtype, line))
                        taken += 1
                    i += 1
    return sample


def child_fhir_resources(data: Path, out: Path, cores: int) -> None:
    from fhir.resources.R4B import get_fhir_model_class
    groups = resource_files(data)
    counts = line_counts(groups)
    sample = _sample(groups, counts, SAMPLE_LINES)
    models = {rtype: get_fhir_model_class(rtype) for rtype in groups}
    # one untimed parse per type: pydantic builds its validators on first use
    for rtype, line in {rtype: line for rtype, line in sample}.items():
        try:
            models[rtype].model_validate_json(line)
        except Exception:
            pass
    failed = 0
    t0 = time.monotonic()
    for rtype, line in sample:
        try:
            models[rtype].model_validate_json(line)
        except Exception:        # a line R4B rejects still cost its parse; counted, not fatal
            failed += 1
    took = time.monotonic() - t0
    total = sum(counts.values())
    _report({"seconds": took / len(sample) * total / cores, "sample_lines": len(sample),
             "sample_seconds": took, "sample_failed": failed, "lines": total, "cores": cores})


# --- DuckDB: the canonical tables from typed read_json ---------------------------------------

def _duck_types() -> dict[str, dict[str, str]]:
    """The columns each resource type is read with: the parts the engine reads, every leaf a
    string (as engine/views holds every FHIR primitive), numbers and booleans cast in SQL."""
    v = "VARCHAR"
    coding = f"STRUCT(system {v}, code {v}, display {v})"
    codeable = f"STRUCT(coding {coding}[], text {v})"
    ident = f"STRUCT(system {v}, value {v})"
    ref = f"STRUCT(reference {v}, type {v}, identifier {ident}, display {v})"
    qty = f"STRUCT(value {v}, unit {v}, system {v}, code {v})"
    period = f'STRUCT("start" {v}, "end" {v})'
    ext = (f"STRUCT(url {v}, valueString {v}, valueCode {v}, valueBoolean {v}, valuePeriod {period}, "
           f"valueCodeableConcept {codeable})")
    return {
        "Patient": {"id": v, "identifier": f"{ident}[]", "name": f"STRUCT(use {v}, family {v}, given {v}[])[]",
                    "gender": v, "birthDate": v, "deceasedDateTime": v, "deceasedBoolean": v,
                    "address": f"STRUCT(use {v}, extension {ext}[])[]", "extension": f"{ext}[]",
                    "generalPractitioner": f"{ref}[]", "managingOrganization": ref},
        "Organization": {"id": v, "identifier": f"{ident}[]", "name": v, "partOf": ref},
        "Condition": {"id": v, "subject": ref, "code": codeable, "clinicalStatus": codeable,
                      "verificationStatus": codeable, "onsetDateTime": v, "onsetPeriod": period,
                      "recordedDate": v, "abatementDateTime": v, "abatementPeriod": period},
        "Observation": {"id": v, "status": v, "subject": ref, "code": codeable, "effectiveDateTime": v,
                        "effectivePeriod": period, "effectiveInstant": v, "issued": v, "valueQuantity": qty,
                        "component": f"STRUCT(code {codeable}, valueQuantity {qty})[]"},
        "Procedure": {"id": v, "status": v, "subject": ref, "code": codeable, "performedDateTime": v,
                      "performedPeriod": period},
        "MedicationRequest": {"id": v, "status": v, "subject": ref, "medicationCodeableConcept": codeable,
                              "authoredOn": v, "dispenseRequest": f"STRUCT(quantity {qty}, validityPeriod {period})"},
        "Encounter": {"id": v, "status": v, "class": coding, "type": f"{codeable}[]", "subject": ref,
                      "period": period, "basedOn": f"{ref}[]"},
        "ServiceRequest": {"id": v, "status": v, "priority": v, "subject": ref, "code": codeable,
                           "authoredOn": v, "occurrenceDateTime": v, "occurrencePeriod": period},
    }


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _source(rtype: str, groups: dict[str, list[Path]]) -> str:
    """read_json of one type's files with explicit columns, or an empty relation of the same
    columns when the folder has none of that type."""
    cols = _duck_types()[rtype]
    if rtype not in groups:
        return "(SELECT " + ", ".join(f'NULL::{t} AS "{c}"' for c, t in cols.items()) + " LIMIT 0)"
    files = "[" + ", ".join(_sql_str(str(p)) for p in groups[rtype]) + "]"
    spec = "{" + ", ".join(f"{_sql_str(c)}: {_sql_str(t)}" for c, t in cols.items()) + "}"
    return f"read_json({files}, format='newline_delimited', columns={spec})"


def _macros() -> list[str]:
    from engine.fhir_conventions import ENCOUNTER_CLASS
    classes = " ".join(f"WHEN {_sql_str(k)} THEN {_sql_str(v)}" for k, v in sorted(ENCOUNTER_CLASS.items()))
    return [
        # the calendar date written in the source; YYYY-MM → the 1st, YYYY → 1 January
        "CREATE MACRO d(s) AS try_cast(CASE length(trim(s)) WHEN 4 THEN trim(s) || '-01-01' "
        "WHEN 7 THEN trim(s) || '-01' ELSE left(trim(s), 10) END AS DATE)",
        "CREATE MACRO blank(s) AS nullif(trim(s), '')",
        "CREATE MACRO ref_id(r) AS nullif(regexp_extract(trim(r), '([^/]+)$', 1), '')",
        "CREATE MACRO ref_type(r) AS nullif(regexp_extract(trim(r), '([^/]+)/[^/]+$', 1), '')",
        "CREATE MACRO pid(r) AS CASE WHEN coalesce(ref_type(r), 'Patient') = 'Patient' THEN ref_id(r) END",
        "CREATE MACRO codings(cc) AS list_filter(coalesce(cc.coding, []), lambda c: blank(c.code) IS NOT NULL)",
        "CREATE MACRO num(s) AS try_cast(trim(s) AS DOUBLE)",
        "CREATE MACRO unit_of(q) AS coalesce(blank(q.unit), blank(q.code))",
        f"CREATE MACRO enc_class(c) AS CASE upper(trim(c)) {classes} ELSE 'other' END",
    ]


def _duck_lookups(groups: dict[str, list[Path]]) -> list[str]:
    from engine.fhir_conventions import (CARE_HOME_EXTENSION, LSOA_EXTENSION, NHS_NUMBER_SYSTEM, ODS_SYSTEM,
                                         REGISTRATION_EXTENSION, UKCORE_ETHNICITY_EXTENSION)
    nhs = ", ".join(map(_sql_str, (NHS_NUMBER_SYSTEM, "http://fhir.nhs.net/Id/nhs-number",
                                   "https://fhir.nhs.uk/Id/nhs-number/")))
    ods = ", ".join(map(_sql_str, (ODS_SYSTEM, "http://fhir.nhs.net/Id/ods-organization-code")))
    imd = REPO / "conf" / "lsoa_imd.csv"
    imd_sql = (f"SELECT lsoa_code, min(try_cast(imd_decile AS INTEGER)) AS imd_decile FROM read_csv({_sql_str(str(imd))}, "
               "header=true, columns={'lsoa_code': 'VARCHAR', 'lsoa_name': 'VARCHAR', 'imd_decile': 'VARCHAR'}) "
               "GROUP BY lsoa_code" if imd.is_file() else
               "SELECT NULL::VARCHAR AS lsoa_code, NULL::INTEGER AS imd_decile LIMIT 0")
    return [
        f"CREATE TEMP TABLE imd AS {imd_sql}",
        f"""CREATE TEMP TABLE orgs AS
            SELECT id AS org_id, name, partOf AS part_of,
                   trim(list_filter(coalesce(identifier, []), lambda i: i.system IN ({ods})
                        AND blank(i.value) IS NOT NULL)[1].value) AS ods
            FROM {_source('Organization', groups)} WHERE id IS NOT NULL""",
        f"""CREATE TEMP TABLE patients AS
            WITH p AS (
              SELECT id,
                list_filter(coalesce(identifier, []), lambda i: i.system IN ({nhs}) AND i.value IS NOT NULL)[1].value AS nhs_raw,
                coalesce(list_filter(name, lambda n: n.use = 'official')[1], name[1]) AS nm,
                gender, birthDate, deceasedDateTime, deceasedBoolean,
                flatten(list_transform(coalesce(address, []), lambda a: coalesce(a.extension, []))) AS addr_ext,
                coalesce(extension, []) AS exts,
                list_filter(coalesce(generalPractitioner, []), lambda g: coalesce(ref_type(g.reference), g.type, '')
                            NOT IN ('Practitioner', 'PractitionerRole'))[1] AS gp,
                managingOrganization AS mo
              FROM {_source('Patient', groups)} WHERE id IS NOT NULL),
            q AS (
              SELECT p.*,
                list_filter(exts, lambda e: e.url = {_sql_str(REGISTRATION_EXTENSION)})[1].valuePeriod AS reg,
                codings(list_filter(exts, lambda e: e.url = {_sql_str(UKCORE_ETHNICITY_EXTENSION)})[1]
                        .valueCodeableConcept)[1].code AS eth_code,
                trim(list_transform(list_filter(addr_ext, lambda e: e.url = {_sql_str(LSOA_EXTENSION)}
                        AND coalesce(e.valueString, e.valueCode) IS NOT NULL),
                     lambda e: coalesce(e.valueString, e.valueCode))[1]) AS lsoa,
                list_transform(list_filter(addr_ext, lambda e: e.url = {_sql_str(CARE_HOME_EXTENSION)}),
                               lambda e: try_cast(e.valueBoolean AS BOOLEAN)) AS care
              FROM p)
            SELECT q.id AS patient_id, blank(regexp_replace(nhs_raw, '[^0-9]', '', 'g')) AS nhs_number,
              blank(array_to_string(coalesce(nm.given, []), ' ')) AS given_name, nm.family AS family_name,
              d(birthDate) AS birth_date, lower(trim(gender)) AS sex, d(deceasedDateTime) AS death_date,
              coalesce(try_cast(deceasedBoolean AS BOOLEAN) OR blank(deceasedDateTime) IS NOT NULL, false) AS deceased,
              eth_code AS ethnicity_code, NULL::VARCHAR AS ethnicity_group, NULL::VARCHAR AS ethnicity_category,
              lsoa AS lsoa_code, imd.imd_decile,
              coalesce(CASE WHEN gp IS NOT NULL THEN coalesce(g.ods, g.org_id, blank(gp.identifier.value), ref_id(gp.reference)) END,
                       CASE WHEN mo IS NOT NULL THEN coalesce(m.ods, m.org_id, blank(mo.identifier.value), ref_id(mo.reference)) END)
                AS practice_id,
              d(reg."start") AS registration_start, d(reg."end") AS registration_end,
              CASE WHEN list_contains(care, true) THEN true WHEN list_contains(care, false) THEN false END AS address_care_home
            FROM q
            LEFT JOIN orgs g ON g.org_id = ref_id(gp.reference)
            LEFT JOIN orgs m ON m.org_id = ref_id(mo.reference)
            LEFT JOIN imd ON imd.lsoa_code = q.lsoa
            QUALIFY row_number() OVER (PARTITION BY q.id ORDER BY nhs_number, birth_date) = 1""",
        # read once, used twice: the encounters table and the referrals' outcome dates
        f"""CREATE TEMP TABLE enc AS
            SELECT id, lower(status) AS status, pid(subject.reference) AS patient_id,
                   d(period."start") AS "start", d(period."end") AS "end", enc_class("class".code) AS cls,
                   flatten(list_transform(coalesce(type, []), lambda t: codings(t))) AS codes, basedOn
            FROM {_source('Encounter', groups)} WHERE id IS NOT NULL""",
    ]


def _duck_tables(groups: dict[str, list[Path]]) -> dict[str, str]:
    """Canonical table → its SELECT (rows of known patients, dated, distinct)."""
    known = "patient_id IN (SELECT patient_id FROM patients)"
    ev = "'system': c.system, 'code': c.code, 'display': c.display"
    events = f"""
        WITH cond AS (
          SELECT id, pid(subject.reference) AS patient_id, codings(code) AS codes,
                 coalesce(d(onsetDateTime), d(onsetPeriod."start"), d(recordedDate)) AS onset,
                 d(recordedDate) AS recorded, coalesce(d(abatementDateTime), d(abatementPeriod."start")) AS abatement,
                 codings(clinicalStatus)[1].code AS clin, codings(verificationStatus)[1].code AS ver
          FROM {_source('Condition', groups)} WHERE id IS NOT NULL),
        cond_rows AS (
          SELECT id, patient_id, codes,
                 CASE WHEN ver IN ('refuted', 'entered-in-error') THEN [{{'d': onset, 's': ver}}]
                      WHEN clin IN ('inactive', 'resolved', 'remission') OR abatement IS NOT NULL
                        THEN [{{'d': onset, 's': 'active'}}, {{'d': coalesce(abatement, recorded, onset), 's': 'resolved'}}]
                      ELSE [{{'d': onset, 's': 'active'}}] END AS statuses
          FROM cond),
        obs AS (
          SELECT id, pid(subject.reference) AS patient_id,
                 coalesce(d(effectiveDateTime), d(effectivePeriod."start"), d(effectiveInstant), d(issued)) AS date,
                 CASE WHEN lower(status) IN ('entered-in-error', 'cancelled') THEN 'entered-in-error' ELSE 'active' END AS status,
                 list_concat(
                   list_transform(codings(code), lambda c: {{{ev}, 'value': num(valueQuantity.value),
                                                             'unit': unit_of(valueQuantity)}}),
                   flatten(list_transform(coalesce(component, []), lambda k: list_transform(codings(k.code),
                     lambda c: {{{ev}, 'value': num(k.valueQuantity.value), 'unit': unit_of(k.valueQuantity)}})))) AS items
          FROM {_source('Observation', groups)} WHERE id IS NOT NULL),
        proc AS (
          SELECT id, pid(subject.reference) AS patient_id, codings(code) AS codes,
                 coalesce(d(performedDateTime), d(performedPeriod."start")) AS date,
                 CASE lower(status) WHEN 'not-done' THEN 'refuted' WHEN 'entered-in-error' THEN 'entered-in-error'
                      ELSE 'active' END AS status
          FROM {_source('Procedure', groups)} WHERE id IS NOT NULL),
        rows AS (
          SELECT patient_id, s.d AS date, c.system, c.code, c.display, NULL::DOUBLE AS value, NULL::VARCHAR AS unit,
                 'condition' AS kind, s.s AS status, 'Condition/' || id AS source_id
          FROM (SELECT *, unnest(codes) AS c FROM (SELECT *, unnest(statuses) AS s FROM cond_rows))
          UNION ALL
          SELECT patient_id, date, i.system, i.code, i.display, i.value, i.unit, 'observation', status,
                 'Observation/' || id
          FROM (SELECT *, unnest(items) AS i FROM obs)
          UNION ALL
          SELECT patient_id, date, c.system, c.code, c.display, NULL, NULL, 'procedure', status, 'Procedure/' || id
          FROM (SELECT *, unnest(codes) AS c FROM proc))
        SELECT DISTINCT * FROM rows WHERE {known} AND date IS NOT NULL"""
    medications = f"""
        SELECT DISTINCT * FROM (
          SELECT pid(subject.reference) AS patient_id,
                 coalesce(d(authoredOn), d(dispenseRequest.validityPeriod."start")) AS date,
                 d(dispenseRequest.validityPeriod."end") AS end_date,
                 unnest(codings(medicationCodeableConcept), recursive := true),
                 lower(status) AS status, num(dispenseRequest.quantity.value) AS quantity,
                 'MedicationRequest/' || id AS source_id
          FROM {_source('MedicationRequest', groups)} WHERE id IS NOT NULL)
        WHERE {known} AND date IS NOT NULL"""
    referrals = f"""
        WITH outcomes AS (
          SELECT 'ServiceRequest/' || ref_id(b.reference) AS source_id, min("start") AS outcome_date
          FROM (SELECT "start", unnest(basedOn) AS b FROM enc
                WHERE status = 'finished' AND "start" IS NOT NULL AND {known})
          WHERE coalesce(ref_type(b.reference), 'ServiceRequest') = 'ServiceRequest'
          GROUP BY 1),
        sr AS (
          SELECT pid(subject.reference) AS patient_id,
                 coalesce(d(authoredOn), d(occurrenceDateTime), d(occurrencePeriod."start")) AS date,
                 unnest(codings(code), recursive := true),
                 lower(priority) AS priority, lower(status) AS status, 'ServiceRequest/' || id AS source_id
          FROM {_source('ServiceRequest', groups)} WHERE id IS NOT NULL)
        SELECT DISTINCT patient_id, date, system, code, display, priority, status, outcome_date, source_id
        FROM sr LEFT JOIN outcomes USING (source_id) WHERE {known} AND date IS NOT NULL"""
    encounters = f"""
        SELECT DISTINCT patient_id, "start", "end", cls AS "class", cls = 'emergency' AS emergency,
               c.system, c.code, 'Encounter/' || id AS source_id
        FROM (SELECT *, unnest(CASE WHEN len(codes) > 0 THEN codes
                                    ELSE [{{'system': NULL::VARCHAR, 'code': NULL::VARCHAR, 'display': NULL::VARCHAR}}]
                                    END) AS c FROM enc
              WHERE status IS DISTINCT FROM 'entered-in-error' AND status IS DISTINCT FROM 'cancelled')
        WHERE {known} AND "start" IS NOT NULL"""
    practices = """
        WITH keyed AS (
          SELECT coalesce(ods, org_id) AS practice_id, name, part_of FROM orgs
          QUALIFY row_number() OVER (PARTITION BY coalesce(ods, org_id) ORDER BY org_id) = 1)
        SELECT ids.practice_id, k.name AS practice_name,
               CASE WHEN k.part_of IS NOT NULL THEN coalesce(pc.ods, pc.org_id, blank(k.part_of.identifier.value),
                                                             ref_id(k.part_of.reference)) END AS pcn_id,
               CASE WHEN k.part_of IS NOT NULL THEN coalesce(pc.name, k.part_of.display) END AS pcn_name
        FROM (SELECT DISTINCT practice_id FROM patients WHERE practice_id IS NOT NULL) ids
        LEFT JOIN keyed k USING (practice_id)
        LEFT JOIN orgs pc ON pc.org_id = ref_id(k.part_of.reference)"""
    return {"patients": "SELECT * FROM patients", "practices": practices, "events": events,
            "medications": medications, "referrals": referrals, "encounters": encounters}


def child_duckdb(data: Path, out: Path, cores: int) -> None:
    import duckdb
    groups = resource_files(data)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.monotonic()
    con = duckdb.connect()
    con.execute(f"SET threads = {cores}")
    for stmt in _macros() + _duck_lookups(groups):
        con.execute(stmt)
    rows = {}
    for name, select in _duck_tables(groups).items():
        target = _sql_str(str(out / f"{name}.parquet"))
        rows[name] = con.execute(f"COPY ({select}) TO {target} (FORMAT parquet)").fetchone()[0]
    con.close()
    _report({"seconds": time.monotonic() - t0, "rows": rows, "threads": cores})


def run_child(name: str, data: Path, work: Path, cores: int, driver_memory: str | None) -> dict:
    """One contender as its own process: its own figures, the parent's wall and peak tree RSS,
    and for the Spark ones the stages in its event log."""
    out, log = work / "out" / name, work / f"{name}.log"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, str(data), str(out),
           "--cores", str(cores)] + (["--driver-memory", driver_memory] if driver_memory else [])
    saved = os.environ.copy()
    events = work / "events" / name
    if name in SPARK_CONTENDERS:
        shutil.rmtree(events, ignore_errors=True)
        events.mkdir(parents=True)
        os.environ["CASEFIND_EVENT_LOG"] = str(events)
    print(f"{name} ...", flush=True)
    try:
        wall, peak = timed(cmd, log)
    except SystemExit as failed:      # one broken contender must not lose the others' figures
        print(failed)
        return {"failed": f"see {log}"}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    found = [line[len(RESULT):] for line in log.read_text().splitlines() if line.startswith(RESULT)]
    if not found:
        return {"failed": f"no result line in {log}"}
    figures = {**json.loads(found[-1]), "process_seconds": wall, "peak_mib": peak}
    if name in SPARK_CONTENDERS:
        figures["stages"], figures["tasks"] = event_counts(events)
    return figures


# --- the report ------------------------------------------------------------------------------

LABELS = {"ours": "ours: engine.ingest.ingest (Spark)",
          "duckdb": "DuckDB read_json, typed columns → canonical Parquet",
          "bare": "bare parse: orjson, one process per core",
          "spark-infer": "Spark read.json, schema inferred, noop write",
          "fhir-resources": "fhir.resources R4B per resource (SAMPLE, extrapolated)"}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt(x: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if x is None else f"{x:{spec}}{suffix}"


def summary_lines(results: dict[str, dict], meta: dict) -> list[str]:
    """The markdown table, notes and targets; printed and written alike."""
    ours = results.get("ours", {}).get("seconds")
    lines = ["| contender | seconds | process s | peak MiB | × ours | notes |", "|---|---:|---:|---:|---:|---|"]
    for name, r in results.items():
        if "failed" in r:
            lines.append(f"| {LABELS[name]} | failed | | | | {r['failed']} |")
            continue
        notes = []
        if "stages" in r:
            notes.append(f"{r['stages']} stages, {r['tasks']} tasks")
        if name == "ours":
            notes.append(f"{r.get('read', 0):,} read, {r.get('quarantined', 0):,} quarantined, "
                         f"{r.get('canonical_quarantined', 0):,} rows quarantined at the canonical checks; "
                         + ", ".join(f"{k} {v:,}" for k, v in r.get("rows", {}).items()))
        if name == "duckdb":
            notes.append(", ".join(f"{k} {v:,}" for k, v in r["rows"].items()))
        if name == "bare":
            notes.append(f"{r['lines']:,} lines")
        if name == "spark-infer":
            notes.append(f"{r['inferred_top_level_columns']} top-level columns inferred")
        if name == "fhir-resources":
            notes.append(f"{r['sample_lines']:,} lines in {r['sample_seconds']:.2f} s, one process; "
                         f"× {r['lines']:,} / {r['sample_lines']:,} lines ÷ {r['cores']} cores"
                         + (f"; {r['sample_failed']} failed validation" if r["sample_failed"] else ""))
        peak = "(sample)" if name == "fhir-resources" else f"{r['peak_mib']:.0f}"
        lines.append(f"| {LABELS[name]} | {r['seconds']:.1f} | {r['process_seconds']:.1f} | {peak} | "
                     f"{_fmt(_ratio(r['seconds'], ours), '.2f', '×')} | {'; '.join(notes)} |")
    duck = results.get("duckdb", {}).get("seconds")
    infer = results.get("spark-infer", {}).get("seconds")
    peak = results.get("ours", {}).get("peak_mib")
    r1, r2 = _ratio(ours, duck), _ratio(infer, ours)
    met = lambda ok: "n/a" if ok is None else ("yes" if ok else "no")
    lines += ["", "| target | measured | met |", "|---|---:|---|",
              f"| ours / DuckDB ≤ 2× | {_fmt(r1, '.2f', '×')} | {met(None if r1 is None else r1 <= 2)} |",
              f"| Spark inference / ours ≥ 3× | {_fmt(r2, '.2f', '×')} | {met(None if r2 is None else r2 >= 3)} |",
              f"| ours peak RSS ≤ 3 GiB ({RSS_TARGET_MIB} MiB) | {_fmt(peak, '.0f', ' MiB')} | "
              f"{met(None if peak is None else peak <= RSS_TARGET_MIB)} |"]
    return lines


def write_results(results: dict[str, dict], meta: dict) -> None:
    """Replace only this script's section of RESULTS.md (between its markers), as facts.py does."""
    head = [BEGIN, "## Ingest side by side (benchmarks/ingest.py)", "",
            f"{meta['date']}, one run of `python benchmarks/ingest.py --patients {meta['patients']}` on this machine "
            f"({meta['cores']} cores), every contender on the same files one after another: {meta['patients']:,} "
            f"patients, {meta['resources']:,} resources in {meta['files']} NDJSON files, {meta['mib']:.0f} MiB. "
            f"Ours with driver memory {meta['driver_memory']}. \"seconds\" = the work alone, timed inside its process "
            "(no interpreter, import or Spark start); \"process s\" = the whole process; peak = largest resident set of "
            "the process tree (JVM or pool workers included), sampled every 0.5 s (so under-sampled for a process that "
            "lasts only a second or two). DuckDB writes the canonical tables "
            "without quarantine, reference resolution beyond `Type/id`, duplicate-version choice, ethnicity from "
            "events or unit normalisation (see the script's docstring); fhir.resources is a sample extrapolated to "
            "every line and divided by the cores, not a run.", ""]
    write_section(BEGIN, END, "\n".join(head + summary_lines(results, meta) + [END]) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=100000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/casefind-ingest-bench"))
    ap.add_argument("--skip", nargs="*", default=[], choices=CONTENDERS)
    ap.add_argument("--keep", action="store_true", help="keep the contenders' outputs and event logs "
                    "(the generated input is always kept, for the next run)")
    ap.add_argument("--driver-memory", default=None, help="ours and spark-infer (default: engine.spark's)")
    args = ap.parse_args()
    work = args.work.resolve() / f"n{args.patients}"
    data = work / "input"
    ensure_input(args.patients, data)
    groups = resource_files(data)
    counts = line_counts(groups)
    cores = os.cpu_count() or 1
    meta = {"date": dt.date.today().isoformat(), "patients": args.patients, "cores": cores,
            "resources": sum(counts.values()), "files": sum(len(v) for v in groups.values()),
            "mib": sum(p.stat().st_size for v in groups.values() for p in v) / 2**20,
            "driver_memory": args.driver_memory or _engine_driver_memory()}
    print(f"{meta['resources']:,} resources in {meta['files']} files, {meta['mib']:.0f} MiB; {cores} cores; "
          + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    results = {}
    for name in CONTENDERS:
        if name not in args.skip:
            results[name] = run_child(name, data, work, cores, args.driver_memory)
            print(json.dumps(results[name]), flush=True)
    lines = summary_lines(results, meta)
    print("\n".join(lines))
    write_results(results, meta)
    if not args.keep:
        for sub in ("out", "events"):
            shutil.rmtree(work / sub, ignore_errors=True)


def _engine_driver_memory() -> str:
    sys.path.insert(0, str(REPO))
    from engine.spark import DEFAULTS    # imports pyspark, not a session
    return DEFAULTS.get("spark.driver.memory", "Spark's default")


def child_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", choices=CONTENDERS, required=True)
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--driver-memory", default=None)
    a = ap.parse_args(argv)
    if a.child in SPARK_CONTENDERS:
        {"ours": child_ours, "spark-infer": child_spark_infer}[a.child](a.data, a.out, a.driver_memory)
    else:
        {"duckdb": child_duckdb, "bare": child_bare, "fhir-resources": child_fhir_resources}[a.child](
            a.data, a.out, a.cores)


if __name__ == "__main__":
    if "--child" in sys.argv:
        child_main(sys.argv[1:])
    else:
        main()
