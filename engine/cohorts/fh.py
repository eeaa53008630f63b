"""Possible familial hypercholesterolaemia: CLINICAL_RULES §5 (NICE CG71 / NG238; Simon Broome; DLCN).

Eligible adults with no FH code whose highest recorded cholesterol (all time, mmol/L: ingest has
already converted mg/dL) meets any of: total cholesterol > 7.5 measured before age 30 (at the test),
total cholesterol > 9.0 at any age, LDL-C > 4.9. Banded by the Dutch Lipid Clinic Network score from
the record (``engine.features.dlcn``, a lower bound): DLCN > 5 → refer for genetic testing, else assess.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from engine.cohorts.base import Cohort, Rule
from engine.features.dlcn import DEFAULTS as DLCN_DEFAULTS, LOWER_BOUND_NOTE, dlcn, highest, mmol_text as _num
from engine.query import age_on, eligible, events_in, has_any
from engine.record import Record

DEFAULTS = {
    "min_age": 18,
    "tc_young_above": 7.5,          # total cholesterol > this, measured before ...
    "tc_young_age_below": 30,       # ... this age (whole years at the test)
    "tc_any_age_above": 9.0,        # total cholesterol > this at any age
    "ldl_above": 4.9,               # LDL-C > this
    "dlcn_refer_above": 5,          # DLCN > this → refer for genetic testing
    **DLCN_DEFAULTS,
}

BANDS = ("refer for genetic testing", "assess")


def find(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    population = eligible(record, as_of, p["min_age"]).select("patient_id", "birth_date")
    tc_rows = (events_in(record, "total_cholesterol", as_of).where(F.col("value").isNotNull())
               .join(population, "patient_id")
               .withColumn("age_at_test", age_on(F.col("birth_date"), F.col("date"))))
    young = highest(tc_rows.where(F.col("age_at_test") < p["tc_young_age_below"]), "max_tc_young")

    df = (population
          .join(has_any(record, "fh", as_of, name="fh_code"), "patient_id", "left")
          .join(highest(tc_rows, "max_total_cholesterol"), "patient_id", "left")
          .join(young, "patient_id", "left")
          .join(dlcn(record, as_of, p), "patient_id", "left")
          .withColumn("max_tc_young_age", age_on(F.col("birth_date"), F.col("max_tc_young_date"))))

    young_met = F.coalesce(F.col("max_tc_young") > p["tc_young_above"], F.lit(False))
    any_age_met = F.coalesce(F.col("max_total_cholesterol") > p["tc_any_age_above"], F.lit(False))
    ldl_met = F.coalesce(F.col("max_ldl") > p["ldl_above"], F.lit(False))
    raised = young_met | any_age_met | ldl_met

    criteria = F.concat_ws("; ",
        F.when(young_met, F.concat(
            F.lit("total cholesterol "), _num(F.col("max_tc_young")), F.lit(" mmol/L on "),
            F.col("max_tc_young_date").cast("string"), F.lit(" at age "), F.col("max_tc_young_age").cast("string"),
            F.lit(f" (> {p['tc_young_above']} under {p['tc_young_age_below']})"))),
        F.when(any_age_met, F.concat(
            F.lit("total cholesterol "), _num(F.col("max_total_cholesterol")), F.lit(" mmol/L on "),
            F.col("max_total_cholesterol_date").cast("string"), F.lit(f" (> {p['tc_any_age_above']})"))),
        F.when(ldl_met, F.concat(
            F.lit("LDL-C "), _num(F.col("max_ldl")), F.lit(" mmol/L on "), F.col("max_ldl_date").cast("string"),
            F.lit(f" (> {p['ldl_above']})"))))

    df = (df.withColumn("band_order", F.when(raised, F.when(F.col("dlcn") > p["dlcn_refer_above"], 1).otherwise(2)))
            .withColumn("band", F.element_at(F.array(*map(F.lit, BANDS)), F.col("band_order")))
            .withColumn("criteria", F.when(raised, criteria)))

    reason = F.concat(
        F.lit("Highest recorded "), F.col("criteria"),
        F.lit(". DLCN score at least "), F.col("dlcn").cast("string"),
        F.when(F.col("band_order") == 1, F.lit(f" (> {p['dlcn_refer_above']}: refer for genetic testing)"))
         .otherwise(F.lit(f" (not above {p['dlcn_refer_above']}: assess)")),
        F.lit(" from "), F.col("dlcn_components"), F.lit(f" — {LOWER_BOUND_NOTE}. No FH diagnosis code."))
    evidence = F.to_json(F.struct(
        F.col("max_total_cholesterol"), F.col("max_total_cholesterol_date").cast("string").alias("max_total_cholesterol_date"),
        F.col("max_tc_young").alias("max_total_cholesterol_under_age"),
        F.col("max_tc_young_date").cast("string").alias("max_total_cholesterol_under_age_date"),
        F.col("max_tc_young_age").alias("age_at_that_test"),
        F.col("max_ldl"), F.col("max_ldl_date").cast("string").alias("max_ldl_date"),
        F.col("dlcn").alias("dlcn_lower_bound"), "dlcn_ldl_points", "dlcn_history_points", "dlcn_exam_points",
        F.col("first_chd_date").cast("string").alias("first_chd_code"), "first_chd_age",
        F.col("first_vascular_date").cast("string").alias("first_stroke_tia_or_pad_code"), "first_vascular_age",
        F.col("xanthoma_date").cast("string").alias("tendon_xanthoma_code"),
        F.lit("mmol/L").alias("unit")))

    member = F.col("band_order").isNotNull()
    return df.select(
        "patient_id",
        F.col("fh_code_date").isNull().alias("not_coded_fh"),
        (F.col("max_total_cholesterol").isNotNull() | F.col("max_ldl").isNotNull()).alias("cholesterol_recorded"),
        raised.alias("cholesterol_raised"),
        "band", "band_order",
        F.when(member, reason).alias("reason"),
        F.when(member, evidence).alias("evidence"),
        "dlcn", "max_ldl", "max_ldl_date", "max_total_cholesterol", "max_total_cholesterol_date",
        "criteria", "dlcn_components")


COHORT = Cohort(
    name="fh",
    title="Possible familial hypercholesterolaemia",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date with no familial hypercholesterolaemia code, "
        "whose highest recorded cholesterol (all time, in mmol/L; mg/dL results are converted at ingest) is: "
        "total cholesterol > {tc_young_above} measured before age {tc_young_age_below}, or total cholesterol "
        "> {tc_any_age_above} at any age, or LDL-C > {ldl_above}. The Dutch Lipid Clinic Network score is "
        "computed from the record: highest LDL-C > {dlcn_ldl_8_points_above} → 8, ≥ {dlcn_ldl_5_points_from} → 5, "
        "≥ {dlcn_ldl_3_points_from} → 3, ≥ {dlcn_ldl_1_point_from} → 1 (values in the published ranges' gaps take "
        "the lower points); own premature coronary heart disease (first code before {dlcn_premature_age_men} "
        "in men, {dlcn_premature_age_women} in women) → 2, else premature stroke/TIA or peripheral arterial "
        "disease at those ages → 1; tendon xanthoma → 6. It is a lower bound: family history, corneal arcus "
        "and DNA results are not in the record. Bands: DLCN > {dlcn_refer_above} → refer for genetic testing; "
        "otherwise assess. Source: NICE CG71 1.1.2 and 1.1.6, Simon Broome, DLCN (Nordestgaard 2013)."),
    defaults=DEFAULTS,
    rules=(
        Rule("not_coded_fh", "No familial hypercholesterolaemia code"),
        Rule("cholesterol_recorded", "A total or LDL cholesterol result recorded"),
        Rule("cholesterol_raised", "Highest total cholesterol > {tc_young_above} mmol/L before age {tc_young_age_below} "
                                   "or > {tc_any_age_above} at any age, or highest LDL-C > {ldl_above} mmol/L"),
    ),
    find=find,
    rank=(("dlcn", True), ("max_ldl", True)),
    columns=("dlcn", "max_ldl", "max_ldl_date", "max_total_cholesterol", "max_total_cholesterol_date",
             "criteria", "dlcn_components"),
)
