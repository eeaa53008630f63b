"""A folder of FHIR R4 (bulk NDJSON and/or Bundle / resource JSON files) → canonical-shaped tables,
through the ViewDefinitions in conf/views (engine.ingest.fhir_views).

Every file is read once:

* **Bulk NDJSON** holds one resource type per file (the Bulk Data specification says so). A file's
  type is the ``resourceType`` of its first line; each line is parsed once, with that type's schema
  (what its view reads, typed by the FHIR model), and the view's rows computed in the same pass.
  The raw line is kept only for a record that is quarantined there, or that turns out to be of
  another type (it is then read as the resource it is, below).
* **JSON files** (Bundles, single resources) and NDJSON files whose first line is not a mapped type
  go through engine.ingest.fhir_text: each Bundle's entries are cut out once as text, then parsed
  once with their type's schema.

Each stage is written once as Parquet under ``<out_dir>/_ingest_work/`` and read back: a later step
(duplicates, references, the counts the report and log give) reads those compact files, never the
input again, and a lost executor costs a re-read of files, where a local checkpoint died with it.
References to patients resolve by a broadcast join on the id, with no shuffle; ``urn:uuid:``
references join the Bundles' fullUrls only when Bundles were read. A quarantined NDJSON record whose
line was not kept (its reference or a duplicate is decided after the first pass) has its line read
again from its file, for those records only. The folder is deleted by ``release``; with
``--pseudonymise`` the out_dir is the run's private work folder, so nothing identifiable is written
anywhere else.
"""
from __future__ import annotations

import gzip
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from engine.ingest import columns as C
from engine.ingest import fhir_mapping as M
from engine.ingest.fhir_text import glob_escape, read_records, read_text, unreadable_gzip
from engine.ingest.fhir_views import CORRUPT, IngestView, load_views, view_rows
from engine.ingest.files import Inventory
from engine.views import ROOT

log = logging.getLogger("casefind.ingest")

Count = tuple  # (resource_type, outcome, reason, n)
REROUTE = "reroute"     # a line of another type than its NDJSON file's: read again as what it is
MAPPERS = ("Condition", "Observation", "Procedure", "MedicationRequest", "ServiceRequest", "Encounter")


@dataclass
class FhirRead:
    tables: dict[str, DataFrame]
    outcomes: DataFrame                 # one row per record: resource_type, outcome, reason, source_file, json
    counts: list[Count]                 # the outcomes, aggregated
    work_dir: Path                      # the stages' files: delete (``release``) once the tables are written
    unreadable: dict[str, str] = field(default_factory=dict)    # file (relative) → reason
    invalid_utf8: dict[str, int] = field(default_factory=dict)  # file (relative) → records repaired


def _rows(resolved: DataFrame) -> DataFrame:
    return (resolved.filter(F.col("outcome") == "ingested")
            .select("source_file", F.explode("rows").alias("x")).select("source_file", "x.*"))


def _outcomes(resolved: DataFrame) -> DataFrame:
    return resolved.select("resource_type", "outcome", "reason", "source_file", "id", "json")


def _count(df: DataFrame, *extra: str) -> list[tuple]:
    """(resource_type, outcome, reason, *extra, n) per distinct combination."""
    keys = ("resource_type", "outcome", "reason", *extra)
    return [tuple(r[k] for k in keys) + (r["n"],) for r in
            df.groupBy(*keys).agg(F.count(F.lit(1)).alias("n")).collect()]


@dataclass
class _ReadCounts:
    """A read stage's outcomes counted in one job, with what else that job can tell."""
    counts: list[Count]                  # decided at read: (resource_type, outcome, reason, n)
    bad_utf8: int                        # records with bytes that were not UTF-8
    mapped: dict[str, tuple[int, int]]   # type still to map → (records with an id, distinct ids)
    to_map: int                          # records still to map


def _count_read(df: DataFrame, id_col: str) -> _ReadCounts:
    rows = (df.groupBy("resource_type", "outcome", "reason")
            .agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("bad_utf8").cast("int")).alias("bad"),
                 F.count(id_col).alias("ids"), F.count_distinct(id_col).alias("distinct_ids")).collect())
    return _ReadCounts(
        counts=[(r["resource_type"], r["outcome"], r["reason"], r["n"]) for r in rows
                if r["outcome"] is not None and r["outcome"] != REROUTE],
        bad_utf8=sum(r["bad"] or 0 for r in rows if r["outcome"] != REROUTE),
        mapped={r["resource_type"]: (r["ids"], r["distinct_ids"]) for r in rows if r["outcome"] is None},
        to_map=sum(r["n"] for r in rows if r["outcome"] is None))


def _bad_utf8_by_file(df: DataFrame) -> dict[str, int]:
    return {r["source_file"]: r["count"] for r in df.filter(F.col("bad_utf8")).groupBy("source_file").count().collect()}


class _Stages:
    """Stage outputs written to ``work_dir/<name>`` as Parquet and read back."""

    def __init__(self, spark: SparkSession, work_dir: Path):
        self.spark = spark
        self.work_dir = work_dir
        shutil.rmtree(work_dir, ignore_errors=True)   # a crashed run's stages are never read

    def keep(self, df: DataFrame, name: str) -> DataFrame:
        path = str(self.work_dir / name)
        df.write.mode("overwrite").parquet(path)
        return self.spark.read.parquet(glob_escape(path))

    def keep_counted(self, df: DataFrame, name: str, *extra: str) -> tuple[DataFrame, list[tuple]]:
        kept = self.keep(df, name)
        return kept, _count(kept, *extra)


def _fmt(n: int) -> str:
    return f"{n:,}"


def _log_type(rtype: str, counts: list[Count], started: float) -> None:
    c = {"ingested": 0, "quarantined": 0, "skipped": 0}
    for t, outcome, _, n in counts:
        if t == rtype and outcome in c:
            c[outcome] += n
    log.info("ingest: %s %s read, %s ingested, %s quarantined, %s skipped (%.1f s)", rtype, _fmt(sum(c.values())),
             _fmt(c["ingested"]), _fmt(c["quarantined"]), _fmt(c["skipped"]), time.monotonic() - started)


def first_type(path: Path) -> str | None:
    """The resourceType of a file's first non-blank line (None if unreadable or not a resource)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    doc = json.loads(line.decode("utf-8", errors="replace").lstrip("\ufeff"))
                    rt = doc.get("resourceType") if isinstance(doc, dict) else None
                    return rt if isinstance(rt, str) else None
    except (OSError, ValueError, EOFError):
        return None
    return None


def read_fhir(spark: SparkSession, inv: Inventory, work_dir: Path, view_dir: Path | None = None) -> FhirRead:
    """Canonical-shaped tables (lazy, over the stage files in ``work_dir``), one outcome row per
    record and their counts. ``release`` the result once the tables and the quarantine are written."""
    stages = _Stages(spark, work_dir)
    try:
        return _read_fhir(spark, inv, stages, load_views(view_dir))
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise


def _typed_stage(spark: SparkSession, inv: Inventory, files: list[Path], iv: IngestView,
                 used: tuple[str, ...]) -> DataFrame:
    """NDJSON files of one type → one row per line: its outcome at read, or its view rows."""
    df = read_text(spark, files, inv.root, wholetext=False)
    df = df.withColumn(ROOT, F.from_json("text", iv.schema, {"columnNameOfCorruptRecord": CORRUPT}))
    r = F.col(ROOT)
    rt = r.getField("resourceType")
    # a struct parse that failed with no resourceType read is not a FHIR resource (not JSON, an array,
    # a NUL inside a string); one that read the resourceType is, with some element in an odd shape
    is_obj = r.getField(CORRUPT).isNull() | rt.isNotNull()
    is_log = r.getField("eventId").isNotNull() & r.getField("exportId").isNotNull()
    quarantine, skip = F.lit("quarantined"), F.lit("skipped")
    outcome = (F.when(~is_obj, quarantine)
               .when(rt.isNull() & is_log, skip)
               .when(rt.isNull(), quarantine)
               .when(rt == iv.resource, F.lit(None).cast("string"))
               .when(rt.isin(*used, "Bundle"), F.lit(REROUTE))
               .otherwise(skip))
    reason = (F.when(~is_obj, F.lit(C.INVALID_JSON))
              .when(rt.isNull() & is_log, F.lit(C.EXPORT_LOG))
              .when(rt.isNull(), F.lit(C.NO_RESOURCE_TYPE))
              .when(rt == iv.resource, F.lit(None).cast("string"))
              .when(rt.isin(*used, "Bundle"), F.lit(None).cast("string"))
              .otherwise(F.lit(C.TYPE_NOT_USED)))
    df = df.withColumns({"outcome": outcome, "reason": reason})
    mapped = F.col("outcome").isNull()
    return df.select(
        "source_file", rt.alias("resource_type"),
        C.blank_to_null(r.getField("id")).alias("id"),
        r.getField("meta").getField("lastUpdated").alias("last_updated"), "bad_utf8",
        F.when(F.col("outcome").isin("quarantined", REROUTE), F.col("text")).alias("json"),
        F.when(mapped, F.xxhash64("text")).alias("text_hash"), F.when(mapped, F.length("text")).alias("text_length"),
        F.when(mapped, view_rows(iv)).alias("vrows"), "outcome", "reason")


def _from_ndjson(df: DataFrame) -> DataFrame:
    """The typed resources (columns M.TYPED) of an NDJSON stage."""
    return df.filter(F.col("outcome").isNull()).select(
        "source_file", F.col("source_file").alias("bundle_key"), F.lit(None).cast("string").alias("full_url"),
        F.lit(0).alias("depth"), "resource_type", "id", "json", F.lit(False).alias("unreadable"),
        "last_updated", "text_hash", "text_length", "vrows")


def _from_records(records: DataFrame, iv: IngestView) -> DataFrame:
    """The typed resources (columns M.TYPED) of one type among the records, parsed from their text."""
    t = records.filter((F.col("resource_type") == iv.resource) & F.col("outcome").isNull())
    t = t.withColumn(ROOT, F.from_json("json", iv.schema))
    return t.select("source_file", "bundle_key", "full_url", "depth", "resource_type",
                    F.col("resource_id").alias("id"), "json", F.col(ROOT).isNull().alias("unreadable"),
                    "last_updated", F.xxhash64("json").alias("text_hash"), F.length("json").alias("text_length"),
                    view_rows(iv).alias("vrows"))


def _read_fhir(spark: SparkSession, inv: Inventory, stages: _Stages, views: dict[str, IngestView]) -> FhirRead:
    t0 = time.monotonic()
    files = len(inv.ndjson) + len(inv.json)
    log.info("ingest: reading %s FHIR files (%s NDJSON, %s JSON, %s empty) through %s views", _fmt(files),
             _fmt(len(inv.ndjson)), _fmt(len(inv.json)), _fmt(len(inv.empty)), len(views))
    unreadable = unreadable_gzip(inv.ndjson + inv.json)
    if unreadable:
        log.warning("ingest: %s file(s) could not be read (not gzip, or a corrupt gzip stream); they are named in "
                    "the quarantine and the report", len(unreadable))
    readable = [p for p in inv.ndjson if p not in unreadable and p not in inv.empty]
    by_type: dict[str, list[Path]] = {}
    other_ndjson: list[Path] = []
    for p in readable:
        t = first_type(p)
        (by_type.setdefault(t, []) if t in views else other_ndjson).append(p)

    # 1. bulk NDJSON, one pass per type
    counts: list[Count] = []
    bad_utf8: dict[str, int] = {}
    ndjson_stages: dict[str, DataFrame] = {}
    # type → its parts' (records with an id, distinct ids): which types can hold a duplicated id
    id_counts: dict[str, list[tuple[int, int]]] = {}
    for rtype, paths in sorted(by_type.items()):
        t = time.monotonic()
        kept = stages.keep(_typed_stage(spark, inv, paths, views[rtype], tuple(views)), f"ndjson_{rtype}")
        ndjson_stages[rtype] = kept
        rc = _count_read(kept, "id")
        counts += rc.counts
        for rt, pair in rc.mapped.items():
            id_counts.setdefault(rt, []).append(pair)
        if rc.bad_utf8:
            for f, n in _bad_utf8_by_file(kept.filter(F.col("outcome").isNull() | (F.col("outcome") != REROUTE))).items():
                bad_utf8[f] = bad_utf8.get(f, 0) + n
        log.info("ingest: %s NDJSON file(s) of %s read in %.1f s", len(paths), rtype, time.monotonic() - t)

    # 2. everything else as text: JSON files, NDJSON files of other types, lines of another type
    reroute = None
    for kept in ndjson_stages.values():
        part = kept.filter(F.col("outcome") == REROUTE).select("source_file", F.col("json").alias("text"), "bad_utf8")
        reroute = part if reroute is None else reroute.unionByName(part)
    records = None
    records_types: set[str] = set()
    urls = None
    if inv.json or other_ndjson or unreadable or _has(reroute):
        t = time.monotonic()
        records = stages.keep(read_records(spark, inv, tuple(views), unreadable, ndjson=other_ndjson, extra=reroute),
                              "records")
        rc = _count_read(records, "resource_id")
        counts += rc.counts
        for rt, pair in rc.mapped.items():
            id_counts.setdefault(rt, []).append(pair)
        records_types = set(rc.mapped)
        if rc.bad_utf8:
            for f, n in _bad_utf8_by_file(records).items():
                bad_utf8[f] = bad_utf8.get(f, 0) + n
        log.info("ingest: %s records read from Bundles and other files in %.1f s",
                 _fmt(sum(n for *_, n in rc.counts) + rc.to_map),
                 time.monotonic() - t)
        if inv.json or reroute is not None:
            urls = stages.keep(M.url_index(records), "urls")
    if bad_utf8:
        log.warning("ingest: %s records held bytes that are not UTF-8 (replaced by U+FFFD)", _fmt(sum(bad_utf8.values())))
    pre = list(counts)
    unused = [c for c in pre if c[0] is not None and c[0] not in views]
    if unused:
        log.info("ingest: %s records of %s other resource types (%s skipped, %s quarantined)",
                 _fmt(sum(n for *_, n in unused)), len({c[0] for c in unused}),
                 _fmt(sum(n for _, o, _, n in unused if o == "skipped")),
                 _fmt(sum(n for _, o, _, n in unused if o == "quarantined")))

    # 3. per type: the typed resources, duplicates decided, the view's rows mapped to canonical rows
    def typed(rtype: str) -> DataFrame | None:
        parts = []
        if rtype in ndjson_stages:
            parts.append(_from_ndjson(ndjson_stages[rtype]))
        if rtype in records_types:
            parts.append(_from_records(records, views[rtype]))
        if not parts:
            return None
        df = parts[0]
        for p in parts[1:]:
            df = df.unionByName(p)
        return df

    mapped_counts: list[Count] = []
    resolved_stages: list[DataFrame] = []

    def stage(rtype: str, mapper, df: DataFrame | None = None) -> DataFrame | None:
        df = typed(rtype) if df is None else df
        if df is None:
            return None
        t = time.monotonic()
        losers = None
        parts = id_counts.get(rtype, [])
        # one part whose ids are all distinct cannot hold a duplicate; two parts may share an id
        maybe = len(parts) != 1 or parts[0][0] > parts[0][1]
        if maybe and M.has_duplicate_ids(df):
            df, losers = M.mark_duplicates(df)
        out = mapper(df)
        if losers is not None:
            out = out.unionByName(losers.withColumn("rows", F.lit(None).cast(out.schema["rows"].dataType)))
        kept, c = stages.keep_counted(out, f"mapped_{rtype}")
        mapped_counts.extend(c)
        resolved_stages.append(kept)
        _log_type(rtype, [*pre, *c], t)
        return kept

    # Organization and Medication are looked up by reference: each gives a lookup table beside its outcomes
    lookups: dict[str, DataFrame] = {}
    for rtype, fn in (("Organization", M.organizations), ("Medication", M.medications)):
        def both(d: DataFrame, rtype=rtype, fn=fn) -> DataFrame:
            resolved, lookup = fn(d)
            lookups[rtype] = stages.keep(lookup, rtype.lower())
            return resolved
        stage(rtype, both)
    orgs = lookups.get("Organization")
    meds = lookups.get("Medication")
    if orgs is None:
        orgs = spark.createDataFrame([], M.ORG_LOOKUP)
    if meds is None:
        meds = spark.createDataFrame([], M.MED_LOOKUP)

    pat = stage("Patient", lambda d: M.map_patients(d, urls, orgs))
    if pat is None:
        patients = spark.createDataFrame([], M.patient_table_schema())  # no Patient at all
    else:
        patients = M.patient_table(pat)
    patient_ids = stages.keep(patients.select("patient_id").distinct(), "patient_ids")

    mappers = {
        "Condition": lambda d: M.map_conditions(d, urls, patient_ids),
        "Observation": lambda d: M.map_observations(d, urls, patient_ids),
        "Procedure": lambda d: M.map_procedures(d, urls, patient_ids),
        "MedicationRequest": lambda d: M.map_medication_requests(d, urls, patient_ids, meds),
        "ServiceRequest": lambda d: M.map_service_requests(d, urls, patient_ids),
        "Encounter": lambda d: M.map_encounters(d, urls, patient_ids),
    }
    mapped = {rtype: stage(rtype, fn) for rtype, fn in mappers.items()}
    encounters_typed = typed("Encounter")
    outcomes_by_request = (M.referral_outcomes(encounters_typed, urls, patient_ids) if encounters_typed is not None
                           else spark.createDataFrame([], "source_id string, _linked_outcome date"))

    pre_rows = []
    for kept in ndjson_stages.values():
        pre_rows.append(kept.filter(F.col("outcome").isNotNull() & (F.col("outcome") != REROUTE)).select(
            "resource_type", "outcome", "reason", "source_file", "id",
            F.when(F.col("outcome") == "quarantined", F.col("json")).alias("json")))
    if records is not None:
        pre_rows.append(records.filter(F.col("outcome").isNotNull()).select(
            "resource_type", "outcome", "reason", "source_file", F.col("resource_id").alias("id"),
            F.when(F.col("outcome") == "quarantined", F.col("json")).alias("json")))
    outcomes = None
    for r in [*pre_rows, *[_outcomes(s) for s in resolved_stages]]:
        outcomes = r if outcomes is None else outcomes.unionByName(r)
    if outcomes is None:
        outcomes = spark.createDataFrame([], "resource_type string, outcome string, reason string, "
                                             "source_file string, id string, json string")
    outcomes = _with_recovered_text(spark, inv, outcomes, resolved_stages)

    def rows_of(*types: str, table: str) -> DataFrame:
        frames = [_rows(mapped[t]) for t in types if mapped.get(t) is not None]
        if not frames:
            return spark.createDataFrame([], M.table_schema_with_source(table))
        df = frames[0]
        for f in frames[1:]:
            df = df.unionByName(f)
        return df

    tables = {
        "patients": patients,
        "practices": M.practice_table(patients, orgs, urls),
        "events": rows_of("Condition", "Observation", "Procedure", table="events"),
        "medications": rows_of("MedicationRequest", table="medications"),
        "referrals": (rows_of("ServiceRequest", table="referrals").join(outcomes_by_request, "source_id", "left")
                      .withColumn("outcome_date", F.coalesce("outcome_date", "_linked_outcome"))
                      .drop("_linked_outcome")),
        "encounters": rows_of("Encounter", table="encounters"),
    }
    log.info("ingest: FHIR resources mapped in %.1f s", time.monotonic() - t0)
    return FhirRead(tables=tables, outcomes=outcomes.drop("id"), counts=pre + mapped_counts,
                    unreadable={inv.rel(p): r for p, r in sorted(unreadable.items())}, invalid_utf8=bad_utf8,
                    work_dir=stages.work_dir)


def _has(df: DataFrame | None) -> bool:
    return df is not None and df.limit(1).count() > 0


def _with_recovered_text(spark: SparkSession, inv: Inventory, outcomes: DataFrame,
                         resolved: list[DataFrame]) -> DataFrame:
    """Fill the text of quarantined NDJSON records whose line was not kept at the first pass (their
    reference or a duplicate was decided later): those files are read again, those lines only."""
    missing = []
    for s in resolved:
        missing += s.filter((F.col("outcome") == "quarantined") & F.col("json").isNull() & F.col("id").isNotNull()) \
                    .select("source_file", "resource_type", "id").distinct().collect()
    if not missing:
        return outcomes
    files = sorted({m["source_file"] for m in missing})
    keys = spark.createDataFrame([(m["source_file"], m["resource_type"], m["id"]) for m in missing],
                                 "_sf string, _rt string, _id string")
    text = read_text(spark, [inv.root / f for f in files], inv.root, wholetext=False)
    head = F.from_json("text", "resourceType string, id string")
    text = text.select("source_file", head.getField("resourceType").alias("_rt2"),
                       C.blank_to_null(head.getField("id")).alias("_id2"), "text")
    found = (text.join(F.broadcast(keys), (F.col("source_file") == F.col("_sf")) & (F.col("_rt2") == F.col("_rt"))
                       & (F.col("_id2") == F.col("_id")))
             .groupBy("_sf", "_rt", "_id").agg(F.max("text").alias("_text")))
    out = outcomes.join(F.broadcast(found), (F.col("source_file") == F.col("_sf"))
                        & (F.col("resource_type") == F.col("_rt")) & (F.col("id") == F.col("_id")), "left")
    return out.withColumn("json", F.when(F.col("outcome") == "quarantined", F.coalesce("json", "_text"))) \
              .drop("_sf", "_rt", "_id", "_text")


def release(read: FhirRead) -> None:
    shutil.rmtree(read.work_dir, ignore_errors=True)
