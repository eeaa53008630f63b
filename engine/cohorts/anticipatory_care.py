"""Anticipatory care: CLINICAL_RULES §8 (NHS England proactive care; NICE NG56).

People aged 65+ living outside care homes, not on palliative care, who are moderately or severely
frail (eFI > 0.24, or a moderate / severe frailty code) or have ≥ 2 long-term conditions with
≥ 10 current medicines. Ranked by the predicted 12-month emergency-admission risk of the run's
model (the ``risk`` input: engine/risk, ours, not QAdmissions), then by eFI. The run scores only
the patients these criteria list (``engine.pipeline``).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

from engine.cohorts.declaration import Band, Cohort, Criterion
from engine.config import Param
from engine.features import rows as R
from engine.features.facts import efi_text
from engine.features.patient import feature_exprs

PARAMETERS = {
    "min_age": Param("int", 0, 120),
    "efi_frail_above": Param("number", 0, 1),
    "min_long_term_conditions": Param("int", 0, 20),
    "min_current_medicines": Param("int", 0, 100),
}
# The risk input's columns: patient_id, risk_score, top_factors (engine.risk.score).
RISK_INPUT = "risk"


def derive(p: dict, as_of: dt.date) -> list[dict[str, Column]]:
    features = feature_exprs(as_of, [])
    return [{
        **{k: features[k] for k in ("ltc_count", "current_medicines", "emergency_admissions_12m", "falls_12m")},
        "moderate_date": R.last_date("ev_frailty_moderate"),
        "severe_date": R.last_date("ev_frailty_severe"),
        "palliative_date": R.last_date("ev_palliative"),
        "risk": F.round("risk_score", 4),
        "efi_shown": F.round("efi", 3),
    }]


def _frail_by_efi(p: dict) -> Column:
    return F.col("efi") > p["efi_frail_above"]


def _frail_by_code() -> Column:
    return F.col("moderate_date").isNotNull() | F.col("severe_date").isNotNull()


def _multimorbid(p: dict) -> Column:
    return (F.col("ltc_count") >= p["min_long_term_conditions"]) & \
        (F.col("current_medicines") >= p["min_current_medicines"])


def reason(p: dict, as_of: dt.date) -> Column:
    why = F.concat_ws("; ",
        F.when(_frail_by_efi(p), efi_text()),
        F.when(F.col("severe_date").isNotNull(), F.concat(F.lit("severe frailty coded "), F.col("severe_date").cast("string")))
         .when(F.col("moderate_date").isNotNull(), F.concat(F.lit("moderate frailty coded "), F.col("moderate_date").cast("string"))),
        F.when(_multimorbid(p), F.concat(F.col("ltc_count").cast("string"), F.lit(" long-term conditions with "),
                                         F.col("current_medicines").cast("string"), F.lit(" current medicines"))))
    risk_text = F.when(F.col("risk_score").isNotNull(), F.concat(
        F.lit("predicted 12-month emergency-admission risk "), F.format_number(F.col("risk_score") * 100, 1), F.lit("%"),
        F.when(F.coalesce(F.col("top_factors"), F.lit("")) != "",
               F.concat(F.lit(" (top factors: "), F.col("top_factors"), F.lit(")"))).otherwise(F.lit("")))) \
        .otherwise(F.lit("no risk score (no model for this run)"))
    return F.concat(F.lit("Aged "), F.col("age").cast("string"), F.lit(": "), why, F.lit("; "), risk_text,
                    F.lit("; "), F.col("emergency_admissions_12m").cast("string"),
                    F.lit(" emergency admission(s) in 12 months."))


def evidence(p: dict, as_of: dt.date) -> list[Column]:
    return [F.col("risk_score").alias("risk"), F.col("top_factors"), F.col("efi"), F.col("efi_deficits"),
            F.col("efi_deficit_list"),
            F.col("moderate_date").cast("string").alias("moderate_frailty_coded"),
            F.col("severe_date").cast("string").alias("severe_frailty_coded"),
            F.col("ltc_count"), F.col("current_medicines"), F.col("emergency_admissions_12m"), F.col("falls_12m")]


COHORT = Cohort(
    name="anticipatory_care",
    title="Anticipatory care",
    section="§8",
    explanation=(
        "People aged {min_age}+ registered and alive on the run date, not living in a care home (as in the "
        "care_home worklist), not on palliative care, who are moderately or severely frail (eFI > "
        "{efi_frail_above}, or a moderate or severe frailty code) or have ≥{min_long_term_conditions} long-term "
        "conditions with ≥{min_current_medicines} current medicines. Ranked by the predicted 12-month "
        "emergency-admission risk of this run's model (ours, trained on labelled history; not QAdmissions), "
        "then by eFI. Source: NHS England proactive care; NICE NG56; CLINICAL_RULES §8."),
    parameters=PARAMETERS,
    derive=derive,
    inputs=(RISK_INPUT,),
    criteria=(
        Criterion("not_care_home", "Not a care-home resident", lambda p: ~F.col("care_home")),
        Criterion("not_palliative", "Not on palliative care", lambda p: F.col("palliative_date").isNull()),
        Criterion("frail_or_multimorbid", "eFI > {efi_frail_above} or a moderate/severe frailty code, or "
                                          "≥{min_long_term_conditions} long-term conditions with "
                                          "≥{min_current_medicines} current medicines",
                  lambda p: _frail_by_efi(p) | _frail_by_code() | _multimorbid(p)),
    ),
    bands=(Band("proactive care review"),),
    reason=reason,
    evidence=evidence,
    rank=(("risk", True), ("efi", True)),
    columns=("risk", "top_factors", ("efi", "efi_shown"), "efi_band", "ltc_count", "current_medicines",
             "emergency_admissions_12m"),
)
