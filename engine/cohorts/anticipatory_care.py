"""Anticipatory care: CLINICAL_RULES §8 (NHS England proactive care; NICE NG56).

People aged 65+ living outside care homes, not on palliative care, who are moderately or severely
frail (eFI > 0.24, or a moderate / severe frailty code) or have ≥ 2 long-term conditions with
≥ 10 current medicines. Ranked by the predicted 12-month emergency-admission risk of the run's
model (``record.scores``, engine/risk: ours, not QAdmissions), then by eFI. Built on the patient
features (engine/features/patient.py) rather than recomputing them.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from engine.cohorts.base import Cohort, Rule
from engine.features.efi import efi_text
from engine.features.patient import patient_features
from engine.query import has_any
from engine.record import Record

DEFAULTS = {
    "min_age": 65,
    "efi_frail_above": 0.24,
    "min_long_term_conditions": 2,
    "min_current_medicines": 10,
}

BAND = "proactive care review"


def find(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    f = record.features.get(as_of)
    f = (f if f is not None else patient_features(record, as_of)).where(
        F.col("alive_registered") & (F.col("age") >= p["min_age"]))
    frailty_code = (has_any(record, "frailty_moderate", as_of, name="moderate")
                    .join(has_any(record, "frailty_severe", as_of, name="severe"), "patient_id", "full"))
    scores = record.scores if record.scores is not None else \
        record.spark.createDataFrame([], "patient_id string, risk double, top_factors string")
    df = (f.join(frailty_code, "patient_id", "left")
          .join(has_any(record, "palliative", as_of, name="palliative"), "patient_id", "left")
          .join(scores.select("patient_id", "risk", "top_factors"), "patient_id", "left"))

    frail_by_efi = F.col("efi") > p["efi_frail_above"]
    frail_by_code = F.col("moderate_date").isNotNull() | F.col("severe_date").isNotNull()
    multimorbid = (F.col("ltc_count") >= p["min_long_term_conditions"]) & \
        (F.col("current_medicines") >= p["min_current_medicines"])
    why = F.concat_ws("; ",
        F.when(frail_by_efi, efi_text()),
        F.when(F.col("severe_date").isNotNull(), F.concat(F.lit("severe frailty coded "), F.col("severe_date").cast("string")))
         .when(F.col("moderate_date").isNotNull(), F.concat(F.lit("moderate frailty coded "), F.col("moderate_date").cast("string"))),
        F.when(multimorbid, F.concat(F.col("ltc_count").cast("string"), F.lit(" long-term conditions with "),
                                     F.col("current_medicines").cast("string"), F.lit(" current medicines"))))
    risk_text = F.when(F.col("risk").isNotNull(), F.concat(
        F.lit("predicted 12-month emergency-admission risk "), F.format_number(F.col("risk") * 100, 1), F.lit("%"),
        F.when(F.coalesce(F.col("top_factors"), F.lit("")) != "",
               F.concat(F.lit(" (top factors: "), F.col("top_factors"), F.lit(")"))).otherwise(F.lit("")))) \
        .otherwise(F.lit("no risk score (no model for this run)"))
    reason = F.concat(F.lit("Aged "), F.col("age").cast("string"), F.lit(": "), why, F.lit("; "), risk_text,
                      F.lit("; "), F.col("emergency_admissions_12m").cast("string"),
                      F.lit(" emergency admission(s) in 12 months."))
    member_cols = frail_by_efi | frail_by_code | multimorbid
    evidence = F.to_json(F.struct(
        "risk", "top_factors", "efi", "efi_deficits", "efi_deficit_list",
        F.col("moderate_date").cast("string").alias("moderate_frailty_coded"),
        F.col("severe_date").cast("string").alias("severe_frailty_coded"),
        "ltc_count", "current_medicines", "emergency_admissions_12m", "falls_12m"))
    listed = F.coalesce(member_cols, F.lit(False)) & ~F.col("care_home") & F.col("palliative_date").isNull()
    return df.select(
        "patient_id",
        (~F.col("care_home")).alias("not_care_home"),
        F.col("palliative_date").isNull().alias("not_palliative"),
        F.coalesce(member_cols, F.lit(False)).alias("frail_or_multimorbid"),
        F.when(listed, F.lit(BAND)).alias("band"), F.when(listed, F.lit(1)).alias("band_order"),
        F.when(listed, reason).alias("reason"), F.when(listed, evidence).alias("evidence"),
        F.round("risk", 4).alias("risk"), "top_factors", F.round("efi", 3).alias("efi"), "efi_band",
        "ltc_count", "current_medicines", "emergency_admissions_12m")


COHORT = Cohort(
    name="anticipatory_care",
    title="Anticipatory care",
    explanation=(
        "People aged {min_age}+ registered and alive on the run date, not living in a care home (as in the "
        "care_home worklist), not on palliative care, who are moderately or severely frail (eFI > "
        "{efi_frail_above}, or a moderate or severe frailty code) or have ≥{min_long_term_conditions} long-term "
        "conditions with ≥{min_current_medicines} current medicines. Ranked by the predicted 12-month "
        "emergency-admission risk of this run's model (ours, trained on labelled history; not QAdmissions), "
        "then by eFI. Source: NHS England proactive care; NICE NG56; CLINICAL_RULES §8."),
    defaults=DEFAULTS,
    rules=(
        Rule("not_care_home", "Not a care-home resident"),
        Rule("not_palliative", "Not on palliative care"),
        Rule("frail_or_multimorbid", "eFI > {efi_frail_above} or a moderate/severe frailty code, or "
                                     "≥{min_long_term_conditions} long-term conditions with ≥{min_current_medicines} "
                                     "current medicines"),
    ),
    find=find,
    rank=(("risk", True), ("efi", True)),
    columns=("risk", "top_factors", "efi", "efi_band", "ltc_count", "current_medicines", "emergency_admissions_12m"),
)
