"""Ingest: FHIR R4 bulk NDJSON, FHIR Bundles or GP-extract tables → the six canonical tables.

    from engine.ingest import ingest, detect_format
    fmt = detect_format(path)            # "fhir-ndjson" | "fhir-bundles" | "gp-extract"
    result = ingest(spark, path, fmt, out_dir)
    result.tables["events"]              # read back from <out_dir>/canonical/events/
    result.report                        # JSON-serialisable counts (no patient data)

Bad records are written to ``<out_dir>/quarantine/`` (Parquet: stage, source_file, resource_type,
reason, record) and counted in the report, never logged: they can hold names and NHS numbers.
Per record type the report holds read = ingested + quarantined + skipped. A Bundle is a container:
its entries are counted, the Bundle itself is not. The log (``casefind.ingest``, INFO) says what each
stage did, with counts and seconds only.

Dates after any reference date are kept: ingest has no run date (no code reads the clock, so a
re-run is reproducible), and every cohort ignores what is dated after its ``as_of``. Given
``as_of``, the report counts the rows dated after it per table (``dated_after_as_of``).

A file Spark cannot read (a ``.gz`` that is not gzip, a corrupt or truncated gzip stream) is not
read: it is one quarantined record (resource type "(none)") whose source_file names it, and is
listed under ``files.unreadable``. Zero-byte files are listed under ``files.empty``.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from engine.config import ConfigError
from engine.ingest import canonical
from engine.ingest.files import FORMATS, Inventory, _detect, detect_format, inventory

__all__ = ["ingest", "detect_format", "IngestResult", "FORMATS"]

log = logging.getLogger("casefind.ingest")

NO_TYPE = "(none)"   # report key for lines / entries that carry no resourceType


@dataclass
class IngestResult:
    tables: dict[str, DataFrame]
    report: dict = field(default_factory=dict)
    quarantine_path: str = ""


def _check_format(fmt: str | None, inv: Inventory) -> str:
    detected = _detect(inv)
    if fmt is None:
        return detected
    if fmt not in FORMATS:
        raise ConfigError(f"unknown input format '{fmt}' (expected one of: {', '.join(FORMATS)})")
    if (fmt == "gp-extract") != (detected == "gp-extract"):
        raise ConfigError(f"input {inv.root} was given as {fmt} but looks like {detected}")
    return fmt


def _counts_report(rows: list) -> dict:
    """rows: (resource_type, outcome, reason, n) aggregated once over every record."""
    by_type: dict[str, dict] = {}
    q_reasons: dict[str, int] = {}
    q_by_type: dict[str, dict] = {}
    s_reasons: dict[str, int] = {}
    for rtype, outcome, reason, n in rows:
        key = rtype or NO_TYPE
        t = by_type.setdefault(key, {"read": 0, "ingested": 0, "quarantined": 0, "skipped": 0})
        t["read"] += n
        t[outcome] += n
        if outcome == "quarantined":
            q_reasons[reason] = q_reasons.get(reason, 0) + n
            q_by_type.setdefault(key, {})
            q_by_type[key][reason] = q_by_type[key].get(reason, 0) + n
        elif outcome == "skipped":
            s_reasons[reason] = s_reasons.get(reason, 0) + n
    totals = {k: sum(t[k] for t in by_type.values()) for k in ("read", "ingested", "quarantined", "skipped")}
    return {
        "records": dict(sorted(by_type.items())),
        "totals": totals,
        "quarantine_reasons": dict(sorted(q_reasons.items())),
        "quarantine_by_type": {k: dict(sorted(v.items())) for k, v in sorted(q_by_type.items())},
        "skip_reasons": dict(sorted(s_reasons.items())),
    }


def _table_counts(tables: dict[str, DataFrame], as_of: dt.date | None) -> tuple[dict, dict]:
    """(rows per canonical table, rows dated after ``as_of`` per dated table) in one pass per table."""
    rows, after = {}, {}
    for name, df in tables.items():
        col = canonical.DATE_COLUMN.get(name)
        aggs = [F.count(F.lit(1)).alias("n")]
        if as_of is not None and col:
            aggs.append(F.count(F.when(F.col(col) > F.lit(as_of), 1)).alias("after"))
        r = df.agg(*aggs).first()
        rows[name] = r["n"]
        if len(aggs) > 1:
            after[name] = r["after"]
    return rows, after


def ingest(spark: SparkSession, input_path: str | Path, fmt: str | None, out_dir: str | Path, *,
           codelist_dir: str | Path | None = None, imd_path: str | Path | None = None,
           as_of: dt.date | None = None, view_dir: str | Path | None = None) -> IngestResult:
    """Read ``input_path`` (a folder, or one file), write the canonical tables and the quarantine
    under ``out_dir``, and return the tables (read back from Parquet) with the ingest report.

    ``codelist_dir`` (default conf/codelists) supplies ethnicity.csv; ``imd_path`` (default
    conf/lsoa_imd.csv) the LSOA → IMD decile table; either may be absent. ``as_of`` only adds the
    ``dated_after_as_of`` counts to the report. ``view_dir``: the FHIR ViewDefinitions (default
    conf/views, engine.ingest.fhir_views).
    """
    started = time.monotonic()
    inv = inventory(input_path)
    fmt = _check_format(fmt, inv)
    out = Path(out_dir)
    fhir_read = None
    counts = None
    files: dict = {}
    if fmt == "gp-extract":
        from engine.ingest.gp_extract import read_extract
        tables, outcomes, persisted = read_extract(spark, inv)
        files_read = {inv.extract_kind or "csv": sum(len(v) for v in inv.extract.values())}
        unit = "row"
    else:
        from engine.ingest.fhir import read_fhir
        # Stage files stay inside out_dir: a pseudonymised run's out_dir is private.
        fhir_read = read_fhir(spark, inv, out / "_ingest_work", Path(view_dir) if view_dir else None)
        tables, outcomes, persisted = fhir_read.tables, fhir_read.outcomes, []
        counts = fhir_read.counts
        files_read = {"ndjson": len(inv.ndjson), "json": len(inv.json)}
        files = {"unreadable": fhir_read.unreadable, "invalid_utf8": dict(sorted(fhir_read.invalid_utf8.items()))}
        unit = "resource"
    try:
        if counts is None:
            # One aggregation over every record gives every per-type count (and materialises the caches).
            counts = [(r["resource_type"], r["outcome"], r["reason"], r["n"]) for r in
                      outcomes.groupBy("resource_type", "outcome", "reason").agg(F.count(F.lit(1)).alias("n")).collect()]
        t = time.monotonic()
        out_tables, canon_q, persisted2 = canonical.finalise(
            spark, tables, out, Path(codelist_dir) if codelist_dir else None, Path(imd_path) if imd_path else None,
            one_record_per_id=fhir_read is not None)
        persisted += persisted2
        quarantine = (outcomes.filter(F.col("outcome") == "quarantined")
                      .select(F.lit("read").alias("stage"), "source_file", "resource_type", "reason",
                              F.col("json").alias("record"))
                      .unionByName(canon_q))
        qpath = out / "quarantine"
        quarantine.write.mode("overwrite").parquet(str(qpath))
        log.info("ingest: canonical tables and quarantine written in %.1f s", time.monotonic() - t)
    finally:
        for df in persisted:
            df.unpersist()
        if fhir_read is not None:
            from engine.ingest.fhir import release
            release(fhir_read)

    report = {"format": fmt, "input": str(inv.root), "record_unit": unit,
              "files": {"read": files_read, "ignored": sorted(inv.rel(p) for p in inv.ignored),
                        "empty": sorted(inv.rel(p) for p in inv.empty), **files}}
    report.update(_counts_report(counts))
    canon_counts = (spark.read.schema(canonical.QUARANTINE_SCHEMA).parquet(str(qpath))
                    .filter(F.col("stage") == "canonical").groupBy("resource_type", "reason").count().collect())
    cq: dict[str, dict] = {}
    for r in canon_counts:
        cq.setdefault(r["resource_type"], {})[r["reason"]] = r["count"]
    report["canonical_quarantined"] = {k: dict(sorted(v.items())) for k, v in sorted(cq.items())}
    report["canonical_rows"], after = _table_counts(out_tables, as_of)
    if as_of is not None:
        report["as_of"] = as_of.isoformat()
        report["dated_after_as_of"] = after
    report["quarantine_path"] = str(qpath)
    t = report["totals"]
    log.info("ingest %s: %s records read, %s ingested, %s quarantined, %s skipped; %s rows quarantined at the "
             "canonical checks; canonical rows: %s; %.1f s", fmt, f"{t['read']:,}", f"{t['ingested']:,}",
             f"{t['quarantined']:,}", f"{t['skipped']:,}", f"{sum(n for v in cq.values() for n in v.values()):,}",
             ", ".join(f"{k} {v:,}" for k, v in report["canonical_rows"].items()), time.monotonic() - started)
    return IngestResult(tables=out_tables, report=report, quarantine_path=str(qpath))
