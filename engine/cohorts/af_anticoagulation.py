"""AF not anticoagulated: CLINICAL_RULES §4b (NICE NG196; IIF CVD-04; UCLPartners).

Eligible adults on the AF register whose CHA2DS2-VASc is at least 2, with no oral anticoagulant
(warfarin, apixaban, rivaroxaban, edoxaban, dabigatran) issued in the last 6 months and no
palliative-care code. One band; ranked by CHA2DS2-VASc, then age, highest first. The reason says
whether an anticoagulant was ever issued (and when last), since "stopped" needs a different
conversation from "never offered".
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from engine.cohorts.base import Cohort, Rule
from engine.features.cha2ds2_vasc import cha2ds2_vasc, evidence_fields, score_text
from engine.query import add_months, eligible, has_any, issues_in, latest, lit_date, on_register
from engine.record import Record

DEFAULTS = {
    "min_age": 18,
    "min_score": 2,
    "anticoagulant_window_months": 6,
}

BAND = "not anticoagulated"


def _last_anticoagulant(record: Record, as_of: dt.date) -> DataFrame:
    """patient_id, the latest oral anticoagulant issue on or before as_of (any time)."""
    rows = issues_in(record, "med_anticoagulant_oral", as_of, extra=("term", "drug"))
    return latest(rows).select("patient_id", F.col("term").alias("last_anticoagulant"),
                               F.col("code").alias("last_anticoagulant_code"),
                               F.col("date").alias("last_anticoagulant_date"))


def find(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    since = add_months(as_of, -p["anticoagulant_window_months"])
    df = (eligible(record, as_of, p["min_age"]).select("patient_id")
          .join(on_register(record, "af", as_of, resolved="af_resolved", name="register"), "patient_id", "left")
          .join(cha2ds2_vasc(record, as_of), "patient_id", "left")
          .join(_last_anticoagulant(record, as_of), "patient_id", "left")
          .join(has_any(record, "palliative", as_of, name="palliative"), "patient_id", "left"))

    on_reg = F.col("register_date").isNotNull()
    high = F.col("cha2ds2_vasc") >= p["min_score"]
    untreated = F.col("last_anticoagulant_date").isNull() | (F.col("last_anticoagulant_date") < lit_date(since))
    not_palliative = F.col("palliative_date").isNull()
    member = on_reg & high & untreated & not_palliative

    anticoagulation = F.when(
        F.col("last_anticoagulant_date").isNotNull(),
        F.concat(F.lit("last oral anticoagulant "), F.col("last_anticoagulant"), F.lit(" issued on "),
                 F.col("last_anticoagulant_date").cast("string"), F.lit(f", none since {since.isoformat()}"))) \
        .otherwise(F.lit("no oral anticoagulant on record"))
    reason = F.concat(
        F.lit("On the AF register (AF coded "), F.col("register_date").cast("string"), F.lit("); "),
        score_text(), F.lit("; "), anticoagulation, F.lit("."))
    evidence = F.to_json(F.struct(
        F.col("register_date").cast("string").alias("af_coded"), "age", *evidence_fields(),
        F.col("last_anticoagulant"), F.col("last_anticoagulant_code"),
        F.col("last_anticoagulant_date").cast("string").alias("last_anticoagulant_date"),
        F.lit(since.isoformat()).alias("anticoagulant_window_start")))

    return df.select(
        "patient_id",
        on_reg.alias("on_register"),
        F.coalesce(high, F.lit(False)).alias("score_at_least"),
        untreated.alias("not_anticoagulated"),
        not_palliative.alias("not_palliative"),
        F.when(member, F.lit(BAND)).alias("band"),
        F.when(member, F.lit(1)).alias("band_order"),
        F.when(member, reason).alias("reason"),
        F.when(member, evidence).alias("evidence"),
        "cha2ds2_vasc", "age",
        F.when(F.col("cha2ds2_vasc_factors") != "", F.col("cha2ds2_vasc_factors")).alias("cha2ds2_vasc_factors"),
        F.col("register_date").alias("af_coded"), "last_anticoagulant", "last_anticoagulant_date")


COHORT = Cohort(
    name="af_anticoagulation",
    title="Atrial fibrillation not anticoagulated",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date, on the AF register (latest AF code not resolved), "
        "with CHA2DS2-VASc ≥ {min_score}, no oral anticoagulant (warfarin, apixaban, rivaroxaban, edoxaban, "
        "dabigatran) issued in the last {anticoagulant_window_months} months, and no palliative-care code. "
        "CHA2DS2-VASc: heart failure 1, hypertension 1, age ≥75 2 (65–74 1), diabetes 1, stroke/TIA/"
        "thromboembolism 2, vascular disease (prior MI or PAD; aortic plaque has no codelist yet) 1, female 1. "
        "One band; highest score first, then oldest. Source: NICE NG196, IIF CVD-04."),
    defaults=DEFAULTS,
    rules=(
        Rule("on_register", "On the AF register (latest AF code not resolved)"),
        Rule("score_at_least", "CHA2DS2-VASc ≥ {min_score}"),
        Rule("not_anticoagulated", "No oral anticoagulant issued in the last {anticoagulant_window_months} months"),
        Rule("not_palliative", "Not on palliative care"),
    ),
    find=find,
    rank=(("cha2ds2_vasc", True), ("age", True)),   # age: the worklist's own column
    columns=("cha2ds2_vasc", "cha2ds2_vasc_factors", "af_coded", "last_anticoagulant",
             "last_anticoagulant_date"),
)
