"""A folder of FHIR R4 (bulk NDJSON and/or Bundle / resource JSON files) → canonical-shaped tables.

Each stage (the classified records, the lookups, each resource type's mapping) is written as Parquet
under the ingest's own ``<out_dir>/_ingest_work/`` and read back, and the aggregation that counts a
stage's outcomes reads those files, so the log shows progress per resource type and the report's
counts need no second pass. Later stages start from a plain file scan, so their plans stay short:
persisted stages keep their whole lineage in every later plan, and at 20,000 patients took a third
more CPU than this (which costs what the former local checkpoints did). A lost executor costs a
re-read of files on the output's file system, where a local checkpoint's blocks died with it and
failed the run. The folder is deleted by ``release``; with
``--pseudonymise`` the out_dir is the run's private work folder, so nothing identifiable is written
anywhere else.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from engine.ingest import fhir_mapping as M
from engine.ingest.fhir_text import glob_escape, read_records, unreadable_gzip
from engine.ingest.files import Inventory

log = logging.getLogger("casefind.ingest")

Count = tuple  # (resource_type, outcome, reason, n)


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
    return resolved.select("resource_type", "outcome", "reason", "source_file", "json")


def _count(df: DataFrame, *extra: str) -> list[tuple]:
    """(resource_type, outcome, reason, *extra, n) per distinct combination."""
    keys = ("resource_type", "outcome", "reason", *extra)
    return [tuple(r[k] for k in keys) + (r["n"],) for r in
            df.groupBy(*keys).agg(F.count(F.lit(1)).alias("n")).collect()]


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
        """Keep ``df`` and count its outcomes (``extra``: more columns to count by)."""
        kept = self.keep(df, name)
        return kept, _count(kept, *extra)


def _fmt(n: int) -> str:
    return f"{n:,}"


def _log_type(rtype: str, counts: list[Count], pre: list[Count], started: float) -> None:
    """One progress line for a resource type: every record of that type, decided at read or by its mapper."""
    c = {"ingested": 0, "quarantined": 0, "skipped": 0}
    for t, outcome, _, n in [*counts, *pre]:
        if t == rtype:
            c[outcome] += n
    log.info("ingest: %s %s read, %s ingested, %s quarantined, %s skipped (%.1f s)", rtype, _fmt(sum(c.values())),
             _fmt(c["ingested"]), _fmt(c["quarantined"]), _fmt(c["skipped"]), time.monotonic() - started)


def read_fhir(spark: SparkSession, inv: Inventory, work_dir: Path) -> FhirRead:
    """Canonical-shaped tables (lazy, over the stage files in ``work_dir``), one outcome row per
    record and their counts. ``release`` the result once the tables and the quarantine are written."""
    stages = _Stages(spark, work_dir)
    try:
        return _read_fhir(spark, inv, stages)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise


def _read_fhir(spark: SparkSession, inv: Inventory, stages: _Stages) -> FhirRead:
    t0 = time.monotonic()
    files = len(inv.ndjson) + len(inv.json)
    log.info("ingest: reading %s FHIR files (%s NDJSON, %s JSON, %s empty)", _fmt(files), _fmt(len(inv.ndjson)),
             _fmt(len(inv.json)), _fmt(len(inv.empty)))
    unreadable = unreadable_gzip(inv.ndjson + inv.json)
    records, counts = stages.keep_counted(read_records(spark, inv, unreadable), "records", "bad_utf8")
    if unreadable:
        log.warning("ingest: %s file(s) could not be read (not gzip, or a corrupt gzip stream); they are named in "
                    "the quarantine and the report", len(unreadable))
    log.info("ingest: %s records read in %.1f s", _fmt(sum(n for *_, n in counts)), time.monotonic() - t0)

    bad_utf8: dict[str, int] = {}
    if any(bad for *_, bad, _ in counts):
        bad_utf8 = {r["source_file"]: r["count"] for r in
                    records.filter(F.col("bad_utf8")).groupBy("source_file").count().collect()}
        log.warning("ingest: %s records held bytes that are not UTF-8 (replaced by U+FFFD)",
                    _fmt(sum(bad_utf8.values())))
    counts = [(t, o, r, n) for t, o, r, _, n in counts]

    if M.has_duplicate_ids(records):
        t = time.monotonic()
        records, counts = stages.keep_counted(M.mark_duplicates(records), "records_deduplicated")
        dups: dict[str, int] = {}
        for _, _, r, n in counts:
            if r in M.DUPLICATE_REASONS:
                dups[r] = dups.get(r, 0) + n
        log.info("ingest: resource ids seen more than once: %s (%.1f s)",
                 "; ".join(f"{r}: {_fmt(n)}" for r, n in sorted(dups.items())), time.monotonic() - t)
    # Records decided at read (not JSON, type not used, duplicates, ...); the mappers decide the rest.
    pre = [c for c in counts if c[1] is not None]
    to_map = {t: n for t, o, _, n in counts if o is None}
    unused = [c for c in pre if c[0] is not None and c[0] not in M.SCHEMAS]
    if unused:
        log.info("ingest: %s records of %s other resource types (%s skipped, %s quarantined)",
                 _fmt(sum(n for *_, n in unused)), len({c[0] for c in unused}),
                 _fmt(sum(n for _, o, _, n in unused if o == "skipped")),
                 _fmt(sum(n for _, o, _, n in unused if o == "quarantined")))
    none = [c for c in pre if c[0] is None]
    if none:
        log.info("ingest: %s lines/entries with no resourceType (%s quarantined, %s skipped)",
                 _fmt(sum(n for *_, n in none)), _fmt(sum(n for _, o, _, n in none if o == "quarantined")),
                 _fmt(sum(n for _, o, _, n in none if o == "skipped")))

    mapped: list[Count] = []

    def stage(rtype: str, df: DataFrame) -> DataFrame:
        if not to_map.get(rtype):
            return df   # nothing of this type: its (empty) mapping costs nothing later, no job now
        t = time.monotonic()
        kept, c = stages.keep_counted(df, f"mapped_{rtype}")
        mapped.extend(c)
        _log_type(rtype, c, pre, t)
        return kept

    urls = stages.keep(M.url_index(records), "urls")
    org_resolved, orgs = M.organizations(records)
    orgs = stages.keep(orgs, "organizations")
    med_resolved, meds = M.medications(records)
    meds = stages.keep(meds, "medications")
    if to_map.get("Organization") or to_map.get("Medication"):
        t = time.monotonic()
        lookups = _count(org_resolved.unionByName(med_resolved))
        mapped.extend(lookups)
        for rtype in ("Organization", "Medication"):
            if to_map.get(rtype):
                _log_type(rtype, lookups, pre, t)
    pat_resolved = stage("Patient", M.map_patients(records, urls, orgs))
    patients = M.patient_table(pat_resolved)
    patient_ids = stages.keep(patients.select("patient_id").distinct(), "patient_ids")

    conditions = stage("Condition", M.map_conditions(records, urls, patient_ids))
    observations = stage("Observation", M.map_observations(records, urls, patient_ids))
    procedures = stage("Procedure", M.map_procedures(records, urls, patient_ids))
    med_requests = stage("MedicationRequest", M.map_medication_requests(records, urls, patient_ids, meds))
    service_requests = stage("ServiceRequest", M.map_service_requests(records, urls, patient_ids))
    encounters = stage("Encounter", M.map_encounters(records, urls, patient_ids))
    outcomes_by_request = M.referral_outcomes(records, urls, patient_ids)

    pre_rows = records.filter(F.col("outcome").isNotNull()).select(
        "resource_type", "outcome", "reason", "source_file",
        F.when(F.col("outcome") == "quarantined", F.col("json")).alias("json"))
    outcomes = pre_rows
    for r in (org_resolved, med_resolved, pat_resolved, conditions, observations, procedures, med_requests,
              service_requests, encounters):
        outcomes = outcomes.unionByName(_outcomes(r))

    tables = {
        "patients": patients,
        "practices": M.practice_table(patients, orgs, urls),
        "events": _rows(conditions).unionByName(_rows(observations)).unionByName(_rows(procedures)),
        "medications": _rows(med_requests),
        "referrals": (_rows(service_requests).join(outcomes_by_request, "source_id", "left")
                      .withColumn("outcome_date", F.coalesce("outcome_date", "_linked_outcome"))
                      .drop("_linked_outcome")),
        "encounters": _rows(encounters),
    }
    log.info("ingest: FHIR resources mapped in %.1f s", time.monotonic() - t0)
    return FhirRead(tables=tables, outcomes=outcomes, counts=pre + mapped,
                    unreadable={inv.rel(p): r for p, r in sorted(unreadable.items())}, invalid_utf8=bad_utf8,
                    work_dir=stages.work_dir)


def release(read: FhirRead) -> None:
    shutil.rmtree(read.work_dir, ignore_errors=True)
