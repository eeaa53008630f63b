"""Dutch Lipid Clinic Network (DLCN) score from what the record holds: CLINICAL_RULES §5.

The published score (Nordestgaard et al., Eur Heart J 2013;34:3478, table 1) has five groups, and
"per group only one score, the highest applicable, can be chosen". A GP record can score three:

=================================  ==========================================================  ======
group                              record                                                      points
=================================  ==========================================================  ======
biochemical (LDL-C, mmol/L)        highest LDL ever recorded: > 8.5 / ≥ 6.5 / ≥ 5.0 / ≥ 4.0     8/5/3/1
clinical history                   own premature CHD: first ``chd`` code before age 55 (men)    2
                                   or 60 (women); else premature cerebral or peripheral
                                   vascular disease: first ``stroke_tia`` or ``pad`` code at   1
                                   those ages (the group's highest only: CHD + PAD is 2)
physical examination               a ``tendon_xanthoma`` code ever                              6
=================================  ==========================================================  ======

The published LDL ranges (6.5–8.4, 5.0–6.4, 4.0–4.9) leave gaps: a value in a gap (6.45, 4.95)
takes the lower band's points. A patient whose sex is neither male nor female is held to the men's
(younger) age, so a premature event is never credited that the published score would not credit.
Not scored, because the record does not hold them: family history (group 1), corneal arcus, DNA
analysis (group 5). The highest recorded LDL may also be a treated value. The score is therefore a
LOWER BOUND, and every text this module writes says so.

Thresholds and ages are parameters (``DEFAULTS``, merged into the FH cohort's parameters); the
points are the published score's own and are fixed here.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from engine.query import age_on, events_in
from engine.record import Record

DEFAULTS = {
    "dlcn_ldl_8_points_above": 8.5,     # LDL-C > this → 8 points
    "dlcn_ldl_5_points_from": 6.5,      # ≥ this → 5
    "dlcn_ldl_3_points_from": 5.0,      # ≥ this → 3
    "dlcn_ldl_1_point_from": 4.0,       # ≥ this → 1
    "dlcn_premature_age_men": 55,       # first event before this age is premature
    "dlcn_premature_age_women": 60,
}

PREMATURE_CHD_POINTS = 2
PREMATURE_VASCULAR_POINTS = 1
TENDON_XANTHOMA_POINTS = 6

LOWER_BOUND_NOTE = ("a lower bound: family history, corneal arcus and DNA results are not in the record, "
                    "and the highest LDL-C may be a treated value")


def mmol_text(col: Column) -> Column:
    """4.91 → "4.91", 6.5 → "6.5", 5.0 → "5": two decimals at most, so 4.91 never reads as 4.9."""
    return F.regexp_replace(F.format_string("%.2f", col), r"\.?0+$", "")


def highest(rows: DataFrame, name: str) -> DataFrame:
    """patient_id, <name>, <name>_date: each patient's highest value (its latest date on a tie)."""
    w = Window.partitionBy("patient_id").orderBy(F.col("value").desc(), F.col("date").desc(),
                                                 F.col("source_id").asc())
    return (rows.where(F.col("value").isNotNull())
            .withColumn("_n", F.row_number().over(w)).where("_n = 1")
            .select("patient_id", F.col("value").alias(name), F.col("date").alias(f"{name}_date")))


def _first(record: Record, codelists: tuple[str, ...], as_of: dt.date, name: str) -> DataFrame:
    """patient_id, <name>_date: the earliest code in any of the lists (on or before ``as_of``)."""
    rows = None
    for codelist in codelists:
        part = events_in(record, codelist, as_of).select("patient_id", "date")
        rows = part if rows is None else rows.unionByName(part)
    return rows.groupBy("patient_id").agg(F.min("date").alias(f"{name}_date"))


def ldl_points(ldl: Column, p: dict) -> Column:
    return (F.when(ldl > p["dlcn_ldl_8_points_above"], 8).when(ldl >= p["dlcn_ldl_5_points_from"], 5)
            .when(ldl >= p["dlcn_ldl_3_points_from"], 3).when(ldl >= p["dlcn_ldl_1_point_from"], 1)
            .otherwise(0))


def dlcn(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    """One row per patient: ``dlcn`` (the lower-bound score), its parts, and ``dlcn_components`` text.

    Columns: patient_id, dlcn, dlcn_ldl_points, dlcn_history_points, dlcn_exam_points, max_ldl,
    max_ldl_date, first_chd_date, first_chd_age, first_vascular_date, first_vascular_age,
    xanthoma_date, dlcn_components.
    """
    premature_age = F.when(F.col("sex") == "female", F.lit(p["dlcn_premature_age_women"])) \
                     .otherwise(F.lit(p["dlcn_premature_age_men"]))
    df = (record.patients.select("patient_id", "birth_date", "sex")
          .join(highest(events_in(record, "ldl_cholesterol", as_of), "max_ldl"), "patient_id", "left")
          .join(_first(record, ("chd",), as_of, "first_chd"), "patient_id", "left")
          .join(_first(record, ("stroke_tia", "pad"), as_of, "first_vascular"), "patient_id", "left")
          .join(_first(record, ("tendon_xanthoma",), as_of, "xanthoma"), "patient_id", "left")
          .withColumn("first_chd_age", age_on(F.col("birth_date"), F.col("first_chd_date")))
          .withColumn("first_vascular_age", age_on(F.col("birth_date"), F.col("first_vascular_date"))))

    premature_chd = F.coalesce(F.col("first_chd_age") < premature_age, F.lit(False))
    premature_vascular = F.coalesce(F.col("first_vascular_age") < premature_age, F.lit(False))
    df = (df.withColumn("dlcn_ldl_points", ldl_points(F.col("max_ldl"), p))
            .withColumn("dlcn_history_points",
                        F.when(premature_chd, PREMATURE_CHD_POINTS)
                         .when(premature_vascular, PREMATURE_VASCULAR_POINTS).otherwise(0))
            .withColumn("dlcn_exam_points",
                        F.when(F.col("xanthoma_date").isNotNull(), TENDON_XANTHOMA_POINTS).otherwise(0))
            .withColumn("dlcn", F.col("dlcn_ldl_points") + F.col("dlcn_history_points") + F.col("dlcn_exam_points")))

    def event(label: str, prefix: str, points: int) -> Column:
        return F.concat(F.lit(label + " (first code "), F.col(f"{prefix}_date").cast("string"),
                        F.lit(", age "), F.col(f"{prefix}_age").cast("string"), F.lit(f") → {points}"))

    components = F.concat_ws(", ",
        F.when(F.col("max_ldl").isNull(), F.lit("no LDL-C recorded → 0"))
         .otherwise(F.concat(F.lit("LDL-C "), mmol_text(F.col("max_ldl")), F.lit(" → "),
                             F.col("dlcn_ldl_points").cast("string"))),
        F.when(premature_chd, event("premature CHD", "first_chd", PREMATURE_CHD_POINTS))
         .when(premature_vascular, event("premature cerebral/peripheral vascular disease", "first_vascular",
                                         PREMATURE_VASCULAR_POINTS)),
        F.when(F.col("xanthoma_date").isNotNull(),
               F.concat(F.lit("tendon xanthoma (coded "), F.col("xanthoma_date").cast("string"),
                        F.lit(f") → {TENDON_XANTHOMA_POINTS}"))))
    return df.withColumn("dlcn_components", components).drop("birth_date", "sex")
