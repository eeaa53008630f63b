"""GP extract tables (CSV or Parquet; layout in the README, "GP extract") → canonical rows.

CSV is read with an explicit all-string schema built from the header line (so nothing is inferred
and a cell is never silently turned into null by a type guess), Parquet is read as written and cast
to strings; then every table goes through the same typed casts and row checks. A row that fails a
check is quarantined with a fixed reason: ``no patient id``, ``unknown patient``, ``no code``,
``no date``, ``bad date``, ``bad number``, ``bad value``, ``no practice id``.
"""
from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine import schema
from engine.config import ConfigError
from engine.fhir_conventions import ENCOUNTER_CLASS
from engine.ingest import columns as C
from engine.ingest.files import EXTRACT_TABLES, Inventory

COLUMNS = {
    "practices": ("practice_id", "practice_name", "pcn_id", "pcn_name"),
    "patients": ("patient_id", "nhs_number", "given_name", "family_name", "birth_date", "sex", "death_date",
                 "lsoa_code", "practice_id", "registration_start", "registration_end", "care_home"),
    "events": ("event_id", "patient_id", "date", "system", "code", "display", "value", "unit", "kind", "status"),
    "medications": ("issue_id", "patient_id", "date", "end_date", "system", "code", "display", "status", "quantity"),
    "referrals": ("referral_id", "patient_id", "date", "system", "code", "display", "priority", "status",
                  "outcome_date"),
    "encounters": ("encounter_id", "patient_id", "start", "end", "class", "system", "code"),
}
REQUIRED = {
    "practices": ("practice_id",), "patients": ("patient_id",),
    "events": ("patient_id", "date", "code"), "medications": ("patient_id", "date", "code"),
    "referrals": ("patient_id", "date", "code"), "encounters": ("patient_id", "start"),
}
CANONICAL_CLASSES = ("inpatient", "emergency", "ambulatory", "virtual", "home", "other")


def _header(path: Path) -> list[str]:
    """The header line of a CSV file (column names only; no data row is read)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:   # type: ignore[operator]
        line = fh.readline()
    return [c.strip() for c in next(csv.reader(io.StringIO(line)), [])]


def _read_table(spark: SparkSession, table: str, files: list[Path], kind: str, root: Path) -> DataFrame:
    paths = [str(p.resolve()) for p in files]
    if kind == "csv":
        headers = {tuple(_header(p)) for p in files}
        if len(headers) != 1:
            raise ConfigError(f"{table}: its CSV files have different header lines")
        header = list(headers.pop())
        if not header or not any(header):
            raise ConfigError(f"{table}.csv has no header line")
        sch = T.StructType([T.StructField(c, T.StringType()) for c in header])
        df = (spark.read.schema(sch).option("header", True).option("mode", "PERMISSIVE")
              .option("multiLine", False).option("escape", '"').csv(paths))
    else:
        df = spark.read.parquet(*paths)
        df = df.select(*[F.col(f"`{c}`").cast("string").alias(c.strip()) for c in df.columns])
    lower = {c.lower(): c for c in df.columns}
    missing = [c for c in REQUIRED[table] if c not in lower]
    if missing:
        raise ConfigError(f"GP extract {table}: missing column(s) {', '.join(missing)}")
    cols = [F.col(f"`{lower[c]}`").alias(c) if c in lower else F.lit(None).cast("string").alias(c)
            for c in COLUMNS[table]]
    prefix = str(root.resolve()).rstrip("/") + "/"
    local = F.regexp_replace(F.col("_metadata.file_path"), r"^file:(//)?", "")
    source = F.when(local.startswith(prefix), F.substring(local, len(prefix) + 1, 1 << 30)).otherwise(local)
    return df.select(source.alias("source_file"), *cols)


def _empty(spark: SparkSession, table: str) -> DataFrame:
    return spark.createDataFrame([], T.StructType([T.StructField(c, T.StringType())
                                                   for c in ("source_file", *COLUMNS[table])]))


def _v(name: str) -> Column:
    return C.blank_to_null(F.col(name))


def _row_reason(table: str) -> Column:
    """The first failed check for a row of ``table`` (null = good); unknown patient is added later."""
    def dates(*names):
        out = F.lit(False)
        for n in names:
            out = out | C.bad_date(F.col(n))
        return out

    if table == "practices":
        return C.first_reason((_v("practice_id").isNull(), C.NO_PRACTICE_ID))
    checks = [(_v("patient_id").isNull(), C.NO_PATIENT_ID)]
    if table == "patients":
        checks += [(dates("birth_date", "death_date", "registration_start", "registration_end"), C.BAD_DATE),
                   (C.bad_bool(F.col("care_home")), C.BAD_VALUE)]
    elif table == "events":
        checks += [(_v("code").isNull(), C.NO_CODE), (_v("date").isNull(), C.NO_DATE),
                   (dates("date"), C.BAD_DATE), (C.bad_number(F.col("value")), C.BAD_NUMBER)]
    elif table == "medications":
        checks += [(_v("code").isNull(), C.NO_CODE), (_v("date").isNull(), C.NO_DATE),
                   (dates("date", "end_date"), C.BAD_DATE), (C.bad_number(F.col("quantity")), C.BAD_NUMBER)]
    elif table == "referrals":
        checks += [(_v("code").isNull(), C.NO_CODE), (_v("date").isNull(), C.NO_DATE),
                   (dates("date", "outcome_date"), C.BAD_DATE)]
    elif table == "encounters":
        checks += [(_v("start").isNull(), C.NO_DATE), (dates("start", "end"), C.BAD_DATE)]
    return C.first_reason(*checks)


def encounter_class(col: Column) -> Column:
    v = F.lower(F.trim(col))
    m = F.create_map(*[F.lit(x) for k, c in sorted(ENCOUNTER_CLASS.items()) for x in (k, c)])
    return (F.when(v.isin(*CANONICAL_CLASSES), v)
            .otherwise(F.coalesce(F.try_element_at(m, F.upper(v)), F.lit("other"))))


def _canonical(table: str) -> list[Column]:
    """Typed canonical columns (plus source_file) of a validated extract row."""
    d, s, n = (lambda c: C.parse_date(F.col(c))), _v, (lambda c: C.parse_double(F.col(c)))
    system = C.normalise_system(F.col("system"))
    if table == "practices":
        cols = dict(practice_id=s("practice_id"), practice_name=s("practice_name"), pcn_id=s("pcn_id"),
                    pcn_name=s("pcn_name"))
    elif table == "patients":
        cols = dict(patient_id=s("patient_id"),
                    nhs_number=C.blank_to_null(F.regexp_replace(F.col("nhs_number"), r"[^0-9]", "")),
                    given_name=s("given_name"), family_name=s("family_name"), birth_date=d("birth_date"),
                    sex=F.lower(s("sex")), death_date=d("death_date"), deceased=d("death_date").isNotNull(),
                    lsoa_code=s("lsoa_code"), practice_id=s("practice_id"),
                    registration_start=d("registration_start"), registration_end=d("registration_end"),
                    address_care_home=C.parse_bool(F.col("care_home")))
    elif table == "events":
        cols = dict(patient_id=s("patient_id"), date=d("date"), system=system, code=s("code"), display=s("display"),
                    value=n("value"), unit=s("unit"), kind=F.lower(s("kind")),
                    status=F.coalesce(F.lower(s("status")), F.lit("active")), source_id=s("event_id"))
    elif table == "medications":
        cols = dict(patient_id=s("patient_id"), date=d("date"), end_date=d("end_date"), system=system, code=s("code"),
                    display=s("display"), status=F.lower(s("status")), quantity=n("quantity"),
                    source_id=s("issue_id"))
    elif table == "referrals":
        cols = dict(patient_id=s("patient_id"), date=d("date"), system=system, code=s("code"), display=s("display"),
                    priority=F.lower(s("priority")), status=F.lower(s("status")), outcome_date=d("outcome_date"),
                    source_id=s("referral_id"))
    else:
        cls = encounter_class(F.col("class"))
        cols = {"patient_id": s("patient_id"), "start": d("start"), "end": d("end"), "class": cls,
                "emergency": cls == "emergency", "system": system, "code": s("code"), "source_id": s("encounter_id")}
    out = [cols.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name) for f in schema.TABLES[table].fields]
    if table == "patients":
        out += [F.lit(None).cast("string").alias("eth_ext_system"), F.lit(None).cast("string").alias("eth_ext_code")]
    return [F.col("source_file"), *out]


def read_extract(spark: SparkSession, inv: Inventory) -> tuple[dict[str, DataFrame], DataFrame, list[DataFrame]]:
    """(canonical-shaped tables, per-row outcomes, persisted frames).

    outcomes: one row per extract row: resource_type (= table), outcome, reason, source_file, json
    (the row as JSON, only when quarantined).
    """
    kind = inv.extract_kind or "csv"
    raw = {t: (_read_table(spark, t, inv.extract[t], kind, inv.root) if t in inv.extract else _empty(spark, t))
           for t in EXTRACT_TABLES}
    persisted = []
    checked = {}
    for t in EXTRACT_TABLES:
        checked[t] = raw[t].withColumn("_reason", _row_reason(t))
    patients = checked["patients"].persist()
    persisted.append(patients)
    checked["patients"] = patients
    known = patients.filter(F.col("_reason").isNull()).select(F.trim("patient_id").alias("_known")).distinct()
    for t in ("events", "medications", "referrals", "encounters"):
        df = checked[t].join(known, F.trim(F.col("patient_id")) == F.col("_known"), "left")
        df = df.withColumn("_reason", F.coalesce(F.col("_reason"), F.when(F.col("_known").isNull(),
                                                                          F.lit(C.UNKNOWN_PATIENT)))).drop("_known")
        checked[t] = df.persist()
        persisted.append(checked[t])
    checked["practices"] = checked["practices"].persist()
    persisted.append(checked["practices"])

    outcomes = None
    tables = {}
    for t in EXTRACT_TABLES:
        df = checked[t]
        data_cols = [c for c in COLUMNS[t]]
        o = df.select(F.lit(t).alias("resource_type"),
                      F.when(F.col("_reason").isNotNull(), F.lit("quarantined")).otherwise(F.lit("ingested"))
                      .alias("outcome"),
                      F.col("_reason").alias("reason"), "source_file",
                      F.when(F.col("_reason").isNotNull(), F.to_json(F.struct(*data_cols))).alias("json"))
        outcomes = o if outcomes is None else outcomes.unionByName(o)
        tables[t] = df.filter(F.col("_reason").isNull()).select(*_canonical(t))
    return tables, outcomes, persisted
