"""CHA2DS2-VASc stroke risk in atrial fibrillation, scored as CLINICAL_RULES §4 defines it (max 9).

Which records stand for each component ("ever" = any row on or before ``as_of`` with a code in the
list, whether the condition was later resolved or not; refuted and entered-in-error rows never count):

- C  heart failure, 1: a ``heart_failure`` code ever (HF_COD core members)
- H  hypertension, 1: on the hypertension register (``hypertension`` / ``hypertension_resolved``)
- A2 age ≥ 75, 2; A age 65–74, 1: whole years on ``as_of``
- D  diabetes, 1: on the diabetes register (``diabetes`` / ``diabetes_resolved``)
- S2 stroke / TIA / thromboembolism, 2: a ``stroke_tia`` or ``thromboembolism`` (systemic arterial
  embolism) code ever
- V  vascular disease, 1: a ``myocardial_infarction`` or ``pad`` code ever
- Sc female, 1: ``patients.sex`` is female

Gaps, stated plainly: vascular disease counts prior MI and PAD only. Aortic plaque has no codelist
(no primary-care SNOMED list for it was confirmed in a public source); when one is added, name it in
``VASCULAR_LISTS``. The CHD register list is NOT used as a proxy for MI: angina or coronary disease
without an infarction does not score in the original CHA2DS2-VASc. Venous thromboembolism (DVT, PE)
does not score either: "thromboembolism" here is systemic embolism.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from engine.query import age_at, events_in, on_register
from engine.record import Record

HEART_FAILURE_LISTS = ("heart_failure",)
STROKE_LISTS = ("stroke_tia", "thromboembolism")
VASCULAR_LISTS = ("myocardial_infarction", "pad")

# (points column, how the component reads in cha2ds2_vasc_factors), in score order
COMPONENTS = (
    ("chf_points", "heart failure"),
    ("hypertension_points", "hypertension"),
    ("age_points", "age"),
    ("diabetes_points", "diabetes"),
    ("stroke_points", "stroke/TIA/thromboembolism (2)"),
    ("vascular_points", "vascular disease"),
    ("female_points", "female"),
)


def ever(record: Record, codelists: Iterable[str], as_of: dt.date, name: str) -> DataFrame:
    """patient_id, <name>_date: the latest row with a code in any of the lists on or before ``as_of``.

    Active and resolved rows both count (a condition once recorded stays "ever"); refuted and
    entered-in-error rows never do. A shared primitive the AF cohorts use too.
    """
    rows = None
    for codelist in codelists:
        for status in ("active", "resolved"):
            part = events_in(record, codelist, as_of, status=status).select("patient_id", "date")
            rows = part if rows is None else rows.unionByName(part)
    return rows.groupBy("patient_id").agg(F.max("date").alias(f"{name}_date"))


def cha2ds2_vasc(record: Record, as_of: dt.date) -> DataFrame:
    """One row per patient in the record: patient_id, age, cha2ds2_vasc (0–9), one points column per
    component (``COMPONENTS``), the date behind each coded component (chf_date, hypertension_date,
    diabetes_date, stroke_date, vascular_date) and cha2ds2_vasc_factors, the components present as
    text ("age 78 (2), hypertension, female"; empty when the score is 0)."""
    df = (record.patients.select("patient_id", age_at(F.col("birth_date"), as_of).alias("age"), "sex")
          .join(ever(record, HEART_FAILURE_LISTS, as_of, "chf"), "patient_id", "left")
          .join(on_register(record, "hypertension", as_of, resolved="hypertension_resolved", name="hypertension"),
                "patient_id", "left")
          .join(on_register(record, "diabetes", as_of, resolved="diabetes_resolved", name="diabetes"),
                "patient_id", "left")
          .join(ever(record, STROKE_LISTS, as_of, "stroke"), "patient_id", "left")
          .join(ever(record, VASCULAR_LISTS, as_of, "vascular"), "patient_id", "left"))

    def present(date_col: str, points: int = 1):
        return F.when(F.col(date_col).isNotNull(), F.lit(points)).otherwise(F.lit(0))

    df = (df.withColumn("chf_points", present("chf_date"))
            .withColumn("hypertension_points", present("hypertension_date"))
            .withColumn("age_points", F.when(F.col("age") >= 75, F.lit(2)).when(F.col("age") >= 65, F.lit(1))
                        .otherwise(F.lit(0)))
            .withColumn("diabetes_points", present("diabetes_date"))
            .withColumn("stroke_points", present("stroke_date", 2))
            .withColumn("vascular_points", present("vascular_date"))
            .withColumn("female_points", F.when(F.lower(F.col("sex")) == "female", F.lit(1)).otherwise(F.lit(0))))
    score = sum((F.col(c) for c, _ in COMPONENTS), F.lit(0))
    age_text = F.concat(F.lit("age "), F.col("age").cast("string"),
                        F.when(F.col("age_points") == 2, F.lit(" (2)")).otherwise(F.lit("")))
    factors = F.concat_ws(", ", *[
        F.when(F.col(c) > 0, age_text if c == "age_points" else F.lit(label)) for c, label in COMPONENTS])
    return df.select(
        "patient_id", "age", score.cast("int").alias("cha2ds2_vasc"), factors.alias("cha2ds2_vasc_factors"),
        *[c for c, _ in COMPONENTS],
        "chf_date", "hypertension_date", "diabetes_date", "stroke_date", "vascular_date")


def score_text(prefix: str = "") -> Column:
    """'CHA2DS2-VASc 3 (age 70, hypertension, female)' from the columns ``cha2ds2_vasc`` and
    ``cha2ds2_vasc_factors`` (for reason sentences)."""
    return F.concat(F.lit(prefix + "CHA2DS2-VASc "), F.col("cha2ds2_vasc").cast("string"),
                    F.when(F.col("cha2ds2_vasc_factors") != "",
                           F.concat(F.lit(" ("), F.col("cha2ds2_vasc_factors"), F.lit(")"))).otherwise(F.lit("")))


def evidence_fields() -> list[Column]:
    """The score and its components as struct fields for a cohort's evidence JSON."""
    return [F.col("cha2ds2_vasc"), *[F.col(c) for c, _ in COMPONENTS],
            *[F.col(f"{n}_date").cast("string").alias(f"{n}_date")
              for n in ("chf", "hypertension", "diabetes", "stroke", "vascular")]]
