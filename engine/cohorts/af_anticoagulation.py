"""AF not anticoagulated: CLINICAL_RULES §4b (NICE NG196; IIF CVD-04; UCLPartners).

Eligible adults on the AF register whose CHA2DS2-VASc is at least 2, with no oral anticoagulant
(warfarin, apixaban, rivaroxaban, edoxaban, dabigatran) issued in the last 6 months and no
palliative-care code. One band; ranked by CHA2DS2-VASc, then age, highest first. The reason says
whether an anticoagulant was ever issued (and when last), since "stopped" needs a different
conversation from "never offered".
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

from engine.cohorts.declaration import Band, Cohort, Criterion
from engine.config import Param
from engine.features import rows as R
from engine.features.facts import cha2ds2_evidence, cha2ds2_text
from engine.features.rows import add_months

PARAMETERS = {
    "min_age": Param("int", 0, 120),
    "min_score": Param("int", 0, 9),
    "anticoagulant_window_months": Param("int", 1, 120),
}


def derive(p: dict, as_of: dt.date) -> list[dict[str, Column]]:
    since = add_months(as_of, -p["anticoagulant_window_months"])
    # The oral anticoagulant taken most recently, ever (an issue, or a repeat authorisation: §0).
    last = R.last_taken("rx_anticoagulant_oral")
    return [
        {"af_coded": F.col("af_register"), "last_issue": last,
         "anticoagulated_in_window": F.size(R.issued("rx_anticoagulant_oral", since)) > 0,
         "palliative_date": R.last_date("ev_palliative"),
         # the worklist shows no text rather than empty text when no component scores
         "cha2ds2_vasc_factors": F.when(F.col("cha2ds2_vasc_factors") != "", F.col("cha2ds2_vasc_factors"))},
        {"last_anticoagulant": F.col("last_issue.term"), "last_anticoagulant_code": F.col("last_issue.code"),
         "last_anticoagulant_date": F.col("last_issue.date"),
         "last_anticoagulant_how": R.taken_text(F.col("last_issue"), as_of)},
    ]


def reason(p: dict, as_of: dt.date) -> Column:
    since = add_months(as_of, -p["anticoagulant_window_months"])
    anticoagulation = F.when(
        F.col("last_anticoagulant_date").isNotNull(),
        F.concat(F.lit("last oral anticoagulant "), F.col("last_anticoagulant"), F.lit(" "),
                 F.col("last_anticoagulant_how"), F.lit(f", none since {since.isoformat()}"))) \
        .otherwise(F.lit("no oral anticoagulant on record"))
    return F.concat(
        F.lit("On the AF register (AF coded "), F.col("af_coded").cast("string"), F.lit("); "),
        cha2ds2_text(), F.lit("; "), anticoagulation, F.lit("."))


def evidence(p: dict, as_of: dt.date) -> list[Column]:
    since = add_months(as_of, -p["anticoagulant_window_months"])
    return [
        F.col("af_coded").cast("string").alias("af_coded"), F.col("age"), *cha2ds2_evidence(),
        F.col("last_anticoagulant"), F.col("last_anticoagulant_code"),
        F.col("last_anticoagulant_date").cast("string").alias("last_anticoagulant_date"),
        F.lit(since.isoformat()).alias("anticoagulant_window_start")]


COHORT = Cohort(
    name="af_anticoagulation",
    title="Atrial fibrillation not anticoagulated",
    section="§4b",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date, on the AF register (latest AF code not resolved), "
        "with CHA2DS2-VASc ≥ {min_score}, no oral anticoagulant (warfarin, apixaban, rivaroxaban, edoxaban, "
        "dabigatran) issued in the last {anticoagulant_window_months} months (nor a repeat authorisation "
        "covering any day of them), and no palliative-care code. "
        "CHA2DS2-VASc: heart failure 1, hypertension 1, age ≥75 2 (65–74 1), diabetes 1, stroke/TIA/"
        "thromboembolism 2, vascular disease (prior MI or PAD; aortic plaque has no codelist yet) 1, female 1. "
        "One band; highest score first, then oldest. Source: NICE NG196, IIF CVD-04."),
    parameters=PARAMETERS,
    derive=derive,
    criteria=(
        Criterion("on_register", "On the AF register (latest AF code not resolved)",
                  lambda p: F.col("af_coded").isNotNull()),
        Criterion("score_at_least", "CHA2DS2-VASc ≥ {min_score}",
                  lambda p: F.col("cha2ds2_vasc") >= p["min_score"]),
        Criterion("not_anticoagulated", "No oral anticoagulant issued in the last {anticoagulant_window_months} months",
                  lambda p: ~F.col("anticoagulated_in_window")),
        Criterion("not_palliative", "Not on palliative care", lambda p: F.col("palliative_date").isNull()),
    ),
    bands=(Band("not anticoagulated"),),
    reason=reason,
    evidence=evidence,
    rank=(("cha2ds2_vasc", True), ("age", True)),   # age: the worklist's own column
    columns=("cha2ds2_vasc", "cha2ds2_vasc_factors", "af_coded", "last_anticoagulant",
             "last_anticoagulant_date"),
)
