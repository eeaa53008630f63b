"""The shared last step of every reader: from mapped rows to the six canonical Parquet tables.

* drop exact duplicate rows (the same Organization or Patient in every per-patient Bundle, the
  same event exported twice); a patient id with two different records keeps one (deterministic)
  and quarantines the rest as ``duplicate id``;
* quarantine rows whose patient is unknown or whose date is missing (a safety net: the readers
  already check this per record);
* ethnicity: the latest event in the ethnicity codelist whose group is not "Not stated", else the
  patient's UK Core ethnicity extension, mapped through the same list;
* imd_decile from the LSOA → IMD file ``lsoa_imd`` in ``conf/pipeline.yaml`` names (relative to
  the conf folder, or absolute; default ``conf/lsoa_imd.csv``; the published IMD 2019 file's column
  names are read too): a file the setting names but that is missing stops the run (ConfigError)
  before anything is written; the default file absent → null deciles, with a warning;
* every practice a patient is registered at has a practices row (pcn null when unknown);
* write ``<out>/canonical/<table>/`` (overwrite) and return the tables read back from Parquet.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine import schema
from engine.codelists import load_codelist
from engine.config import ConfigError, lsoa_imd_path
from engine.ingest import columns as C
from engine.ingest import units

log = logging.getLogger("casefind.ingest")

DATE_COLUMN = {"events": "date", "medications": "date", "referrals": "date", "encounters": "start"}
CHILD_TABLES = tuple(DATE_COLUMN)

IMD_CODE_COLUMNS = ("lsoa_code", "LSOA code (2011)", "LSOA code (2021)", "lsoa11cd", "lsoa21cd")
IMD_DECILE_COLUMNS = ("imd_decile", "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)",
                      "IMD Decile", "imd_decile_2019")

QUARANTINE_SCHEMA = T.StructType([T.StructField(n, T.StringType()) for n in
                                  ("stage", "source_file", "resource_type", "reason", "record")])


def empty_table(spark: SparkSession, name: str, extra: tuple[str, ...] = ("source_file",)) -> DataFrame:
    fields = list(schema.TABLES[name].fields) + [T.StructField(e, T.StringType()) for e in extra]
    return spark.createDataFrame([], T.StructType(fields))


def _quarantine_rows(df: DataFrame, table: str, reason: F.Column) -> DataFrame:
    cols = [c for c in df.columns if c not in ("source_file", "_reason")]
    return df.select(F.lit("canonical").alias("stage"), F.col("source_file"), F.lit(table).alias("resource_type"),
                     reason.alias("reason"), F.to_json(F.struct(*cols)).alias("record"))


def ethnicity_codes(spark: SparkSession, codelist_dir: Path | None) -> DataFrame | None:
    """system, code, eth_group, eth_category from conf/codelists/ethnicity.csv (None if absent)."""
    try:
        cl = load_codelist("ethnicity", codelist_dir)
    except ConfigError:
        log.warning("ethnicity codelist not found: ethnicity is taken from the patient extension only")
        return None
    rows = [(r["system"], r["code"], r.get("group") or None, r.get("category") or None) for r in cl.rows]
    sch = T.StructType([T.StructField(n, T.StringType()) for n in ("system", "code", "eth_group", "eth_category")])
    return F.broadcast(spark.createDataFrame(rows, sch).dropDuplicates(["system", "code"]))


def imd_table(spark: SparkSession, path: Path | None) -> DataFrame | None:
    """lsoa_code, imd_decile from the LSOA → IMD file (None, with a warning, if it is absent).

    ``path`` None: the file ``conf/pipeline.yaml`` names (engine.config.lsoa_imd_path)."""
    path = Path(path) if path else lsoa_imd_path()
    if not path.is_file():
        log.warning("LSOA→IMD file %s not found: imd_decile is left empty", path)
        return None
    raw = spark.read.option("header", True).option("enforceSchema", False).csv(str(path))
    cols = {c.strip().lower(): c for c in raw.columns}
    code = next((cols[c.lower()] for c in IMD_CODE_COLUMNS if c.lower() in cols), None)
    decile = next((cols[c.lower()] for c in IMD_DECILE_COLUMNS if c.lower() in cols), None)
    if code is None or decile is None:
        raise ConfigError(f"{path}: expected columns lsoa_code and imd_decile (or the IMD 2019 names), "
                          f"found: {', '.join(raw.columns)}")
    df = raw.select(F.trim(F.col(f"`{code}`")).alias("lsoa_code"),
                    C.parse_double(F.col(f"`{decile}`")).cast("int").alias("imd_decile"))
    df = df.filter(F.col("lsoa_code").isNotNull() & F.col("imd_decile").between(1, 10))
    return F.broadcast(df.groupBy("lsoa_code").agg(F.min("imd_decile").alias("imd_decile")))


def _one_patient_per_id(patients: DataFrame) -> tuple[DataFrame, DataFrame]:
    cols = [c for c in patients.columns if c != "source_file"]
    d = patients.dropDuplicates(cols)
    # deterministic pick among different records with one id: the most complete, then the greatest
    filled = sum(F.col(c).isNotNull().cast("int") for c in cols)
    w = Window.partitionBy("patient_id").orderBy(filled.desc(), *[F.col(c).desc_nulls_last() for c in cols])
    d = d.withColumn("_n", F.row_number().over(w))
    keep = d.filter(F.col("_n") == 1).drop("_n")
    dup = _quarantine_rows(d.filter(F.col("_n") > 1).drop("_n"), "patients", F.lit(C.DUPLICATE_ID))
    return keep, dup


def _derive_ethnicity(patients: DataFrame, events: DataFrame, codes: DataFrame | None) -> DataFrame:
    if codes is None:
        return (patients.withColumn("ethnicity_code", F.col("eth_ext_code"))
                .withColumn("ethnicity_group", F.lit(None).cast("string"))
                .withColumn("ethnicity_category", F.lit(None).cast("string")))
    recorded = (events.filter(~F.coalesce(F.col("status"), F.lit("")).isin("refuted", "entered-in-error"))
                .join(codes, ["system", "code"])
                .filter(F.coalesce(F.col("eth_group"), F.lit("")) != "Not stated")
                .groupBy("patient_id")
                .agg(F.max(F.struct("date", "code", "eth_group", "eth_category")).alias("_e"))
                .select("patient_id", F.col("_e.code").alias("_ev_code"), F.col("_e.eth_group").alias("_ev_group"),
                        F.col("_e.eth_category").alias("_ev_cat")))
    ext = codes.select(F.col("system").alias("eth_ext_system"), F.col("code").alias("eth_ext_code"),
                       F.col("eth_group").alias("_x_group"), F.col("eth_category").alias("_x_cat"))
    p = patients.join(recorded, "patient_id", "left").join(ext, ["eth_ext_system", "eth_ext_code"], "left")
    from_events = F.col("_ev_code").isNotNull()
    return (p.withColumn("ethnicity_code", F.when(from_events, F.col("_ev_code")).otherwise(F.col("eth_ext_code")))
             .withColumn("ethnicity_group", F.when(from_events, F.col("_ev_group")).otherwise(F.col("_x_group")))
             .withColumn("ethnicity_category", F.when(from_events, F.col("_ev_cat")).otherwise(F.col("_x_cat"))))


def finalise(spark: SparkSession, tables: dict[str, DataFrame], out_dir: str | Path,
             codelist_dir: Path | None = None, imd_path: Path | None = None, *, one_record_per_id: bool = False
             ) -> tuple[dict[str, DataFrame], DataFrame, list[DataFrame]]:
    """Write the canonical tables; return (tables read back, row-level quarantine, persisted frames).

    ``tables``: patients (canonical columns + eth_ext_system, eth_ext_code, source_file), practices
    (canonical columns), and events / medications / referrals / encounters (canonical columns +
    source_file). The quarantine DataFrame is lazy: the caller writes it, then unpersists the
    persisted frames.

    ``one_record_per_id``: the reader has already kept one record per id, dropped rows repeated
    within a record and checked every row's patient (the FHIR reader does all three per resource),
    so the shuffles that do it here are skipped.
    """
    base = Path(out_dir) / "canonical"
    quarantined = []
    # a pipeline.yaml naming an IMD file that is missing stops the run before anything is written
    imd_path = Path(imd_path) if imd_path else lsoa_imd_path()

    patients = tables["patients"]
    for extra in ("eth_ext_system", "eth_ext_code", "source_file"):
        if extra not in patients.columns:
            patients = patients.withColumn(extra, F.lit(None).cast("string"))
    if not one_record_per_id:
        patients, dup = _one_patient_per_id(patients)
        quarantined.append(dup)
    patients = kept = patients.persist()
    persisted = [kept]
    known = patients.select(F.col("patient_id").alias("_known"))

    for name in CHILD_TABLES:
        df = tables[name]
        cols = [f.name for f in schema.TABLES[name].fields]
        if one_record_per_id:
            df = df.withColumn("_known", F.col("patient_id"))
        else:
            df = df.dropDuplicates(cols)
            df = df.join(known, F.col("patient_id") == F.col("_known"), "left")
        unit_reason = F.lit(None).cast("string")
        if name == "events":
            df = units.normalise(df, units.conversion_table(spark, codelist_dir))
            unit_reason = F.col("_unit_reason")
        df = df.withColumn("_reason", C.first_reason((F.col("_known").isNull(), C.UNKNOWN_PATIENT),
                                                     (F.col(DATE_COLUMN[name]).isNull(), C.NO_DATE),
                                                     (unit_reason.isNotNull(), units.UNKNOWN_UNIT))).drop("_known")
        # the kept rows are written now and the quarantined ones later: one evaluation serves both
        df = df.persist()
        persisted.append(df)
        quarantined.append(df.filter(F.col("_reason").isNotNull()).select(
            F.lit("canonical").alias("stage"), "source_file", F.lit(name).alias("resource_type"),
            F.col("_reason").alias("reason"), F.to_json(F.struct(*cols)).alias("record")))
        t = time.monotonic()
        df.filter(F.col("_reason").isNull()).select(*cols).write.mode("overwrite").parquet(str(base / name))
        log.info("ingest: canonical %s written (%.1f s)", name, time.monotonic() - t)

    events = spark.read.schema(schema.EVENTS).parquet(str(base / "events"))
    patients = _derive_ethnicity(patients, events, ethnicity_codes(spark, codelist_dir))
    imd = imd_table(spark, imd_path)
    if imd is not None:
        patients = patients.drop("imd_decile").join(imd, "lsoa_code", "left")
    pcols = [f.name for f in schema.PATIENTS.fields]
    t = time.monotonic()
    patients.select(*pcols).write.mode("overwrite").parquet(str(base / "patients"))
    log.info("ingest: canonical patients written, with ethnicity and IMD (%.1f s)", time.monotonic() - t)

    practices = tables["practices"].select(*[f.name for f in schema.PRACTICES.fields])
    registered = spark.read.schema(schema.PATIENTS).parquet(str(base / "patients")) \
        .select("practice_id").where(F.col("practice_id").isNotNull()).distinct()
    practices = (practices.filter(F.col("practice_id").isNotNull())
                 .unionByName(registered.select("practice_id", *[F.lit(None).cast("string").alias(c) for c in
                                                                  ("practice_name", "pcn_id", "pcn_name")]))
                 .groupBy("practice_id")
                 .agg(F.max(F.struct(
                     (F.col("practice_name").isNotNull().cast("int") + F.col("pcn_id").isNotNull().cast("int")).alias("_f"),
                     "practice_name", "pcn_id", "pcn_name")).alias("_p"))
                 .select("practice_id", "_p.practice_name", "_p.pcn_id", "_p.pcn_name"))
    practices.write.mode("overwrite").parquet(str(base / "practices"))

    out = {name: spark.read.schema(s).parquet(str(base / name)) for name, s in schema.TABLES.items()}
    quarantine = quarantined[0]
    for q in quarantined[1:]:
        quarantine = quarantine.unionByName(q)
    return out, quarantine, persisted
