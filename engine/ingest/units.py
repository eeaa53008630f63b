"""Units for the analytes whose thresholds the rules compare against (CLINICAL_RULES §0).

``conf/units.yaml`` names, per analyte, its codelist, the canonical unit and every accepted unit
with its multiplier. Values are converted at ingest, so every later stage sees one unit per analyte.
A value recorded with any other unit, or with none, is quarantined as "unknown unit": never guessed
(US Synthea writes cholesterol in mg/dL, UK labs in mmol/L; a bare 190 could be either). What the
source wrote stays beside the converted value (``events.value_recorded``, ``unit_recorded``), so a
reason can quote it as the lab report shows it ("LDL-C 192 mg/dL = 4.97 mmol/L").
"""
from __future__ import annotations

import re
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.codelists import load_codelist
from engine.config import ConfigError, conf_dir, read_yaml

UNKNOWN_UNIT = "unknown unit"


def unit_key(col: Column) -> Column:
    """'mg/dL', 'MG/DL ', 'mg/dl' → 'mg/dl'; UCUM braces such as 'mmol/L{total}' dropped."""
    return F.lower(F.regexp_replace(F.trim(col), r"\{[^}]*\}|\s+", ""))


def check_units_file(units_file: Path | None = None, codelist_dir: Path | None = None) -> dict:
    """analyte → (its spec, its codelist), or a ConfigError naming the file and the analyte."""
    path = Path(units_file) if units_file else conf_dir() / "units.yaml"
    checked = {}
    for name, spec in read_yaml(path).items():
        if not isinstance(spec, dict) or "unit" not in spec or not isinstance(spec.get("accept"), dict):
            raise ConfigError(f"{path}: analyte '{name}' needs 'codelist', 'unit' and an 'accept' mapping")
        for unit, factor in spec["accept"].items():
            if isinstance(factor, bool) or not isinstance(factor, (int, float)):
                raise ConfigError(f"{path}: analyte '{name}', unit '{unit}': the multiplier must be a number")
        checked[name] = (spec, load_codelist(spec.get("codelist", name), codelist_dir))
    return checked


def conversion_table(spark: SparkSession, codelist_dir: Path | None = None,
                     units_file: Path | None = None) -> DataFrame | None:
    """system, code, _unit_key, _factor, _unit for every accepted (analyte code, unit)."""
    rows = []
    for spec, codelist in check_units_file(units_file, codelist_dir).values():
        for unit, factor in spec["accept"].items():
            key = re.sub(r"\{[^}]*\}|\s+", "", str(unit)).lower()   # as unit_key() does to the data
            rows += [(r["system"], r["code"], key, float(factor), str(spec["unit"])) for r in codelist.rows]
    if not rows:
        return None
    sch = T.StructType([T.StructField("system", T.StringType()), T.StructField("code", T.StringType()),
                        T.StructField("_unit_key", T.StringType()), T.StructField("_factor", T.DoubleType()),
                        T.StructField("_unit", T.StringType())])
    return F.broadcast(spark.createDataFrame(rows, sch).dropDuplicates(["system", "code", "_unit_key"]))


def normalise(events: DataFrame, table: DataFrame | None) -> DataFrame:
    """Converted value and unit for analyte rows; ``_unit_reason`` set where the unit is unknown.

    Every row also gets ``value_recorded`` and ``unit_recorded``: its value and unit as the source
    wrote them, before any conversion (the same as value and unit where nothing was converted).
    """
    events = events.withColumns({"value_recorded": F.col("value"), "unit_recorded": F.col("unit")})
    if table is None:
        return events.withColumn("_unit_reason", F.lit(None).cast("string"))
    analyte_codes = table.select("system", "code").distinct().withColumn("_analyte", F.lit(True))
    joined = (events.withColumn("_unit_key", unit_key(F.col("unit")))
              .join(F.broadcast(analyte_codes), ["system", "code"], "left")
              .join(table, ["system", "code", "_unit_key"], "left"))
    analyte_value = F.col("_analyte") & F.col("value").isNotNull()
    return (joined
            .withColumn("_unit_reason", F.when(analyte_value & F.col("_factor").isNull(), F.lit(UNKNOWN_UNIT)))
            .withColumn("value", F.when(analyte_value & F.col("_factor").isNotNull(),
                                        F.round(F.col("value") * F.col("_factor"), 4)).otherwise(F.col("value")))
            .withColumn("unit", F.when(analyte_value & F.col("_factor").isNotNull(), F.col("_unit"))
                        .otherwise(F.col("unit")))
            .drop("_unit_key", "_analyte", "_factor", "_unit"))
