"""Undiagnosed hypertension: CLINICAL_RULES §3 (NICE NG136; IIF CVD-01; UCLPartners).

Eligible adults not on the hypertension register, not palliative, not recently pregnant, whose
latest paired BP in the window is raised, banded by the first band that holds.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

from engine.cohorts.declaration import Band, Cohort, Criterion
from engine.config import Param
from engine.features import rows as R
from engine.features.rows import add_months, lit_date, number_text as num

PARAMETERS = {
    "min_age": Param("int", 0, 120),
    "bp_window_months": Param("int", 1, 240),
    "pregnancy_weeks": Param("int", 0, 104),
    **{f"{setting}_{level}_{kind}": Param("number", 0, 400)
       for setting in ("clinic", "home") for level in ("severe", "stage2", "stage1")
       for kind in ("systolic", "diastolic")},
    "risk_egfr_below": Param("number", 0, 200),
    "risk_bmi_above": Param("number", 0, 100),
    "risk_ethnicity_groups": Param("list[str]"),
    "risk_ethnicity_categories": Param("list[str]"),
}

CVD = (("chd", "coronary heart disease"), ("stroke_tia", "stroke/TIA"), ("pad", "peripheral arterial disease"))


def at_least(p: dict, level: str, systolic: Column, diastolic: Column, setting: Column) -> Column:
    """A reading at or above the level's systolic OR diastolic threshold for its setting."""
    def over(where: str) -> Column:
        return (systolic >= p[f"{where}_{level}_systolic"]) | (diastolic >= p[f"{where}_{level}_diastolic"])
    return F.when(setting == "home", over("home")).otherwise(over("clinic"))


def _latest_at_least(p: dict, level: str) -> Column:
    return at_least(p, level, F.col("systolic"), F.col("diastolic"), F.col("setting"))


def _threshold_text(p: dict, level: str) -> Column:
    def text(setting: str) -> str:
        return f"≥{p[f'{setting}_{level}_systolic']}/{p[f'{setting}_{level}_diastolic']}"
    return F.when(F.col("setting") == "home", F.lit(text("home") + " home/ABPM")).otherwise(F.lit(text("clinic") + " clinic"))


def derive(p: dict, as_of: dt.date) -> list[dict[str, Column]]:
    since = add_months(as_of, -p["bp_window_months"])
    readings = F.filter(F.col("bp_days"), lambda x: x["date"] >= lit_date(since))
    raised = F.size(F.filter(readings, lambda x: at_least(p, "stage1", x["systolic"], x["diastolic"], x["setting"])))
    latest = F.array_max(readings)
    cvd = F.array_compact(F.array(*[F.when(F.col(f"{reg}_register").isNotNull(), F.lit(text)) for reg, text in CVD]))
    ethnic_risk = (F.col("ethnicity_group").isin(p["risk_ethnicity_groups"]) |
                   F.col("ethnicity_category").isin(p["risk_ethnicity_categories"]))
    return [
        {"reading_date": latest["date"], "systolic": latest["systolic"], "diastolic": latest["diastolic"],
         "setting": latest["setting"], "raised_readings": F.when(raised > 0, raised),
         "palliative_date": R.last_date("ev_palliative"),
         "pregnancy_date": R.last_date("ev_pregnancy", as_of - dt.timedelta(weeks=p["pregnancy_weeks"])),
         "any_diagnosis_date": R.last_date("ev_hypertension"),
         "cvd": F.when(F.size(cvd) > 0, F.array_join(F.array_sort(cvd), ", "))},
        {"days_since_reading": F.datediff(lit_date(as_of), F.col("reading_date")),
         "risk_text": F.concat_ws(
             "; ",
             F.when(ethnic_risk, F.concat(F.lit("ethnicity "),
                                          F.coalesce(F.col("ethnicity_category"), F.col("ethnicity_group")))),
             F.when(F.col("diabetes_register").isNotNull(), F.lit("diabetes")),
             F.when(F.col("egfr") < p["risk_egfr_below"],
                    F.concat(F.lit("eGFR "), num(F.col("egfr")), F.lit(" on "), F.col("egfr_date").cast("string"))),
             F.when(F.col("bmi") > p["risk_bmi_above"],
                    F.concat(F.lit("BMI "), num(F.col("bmi")), F.lit(" on "), F.col("bmi_date").cast("string"))),
             F.when(F.col("cvd").isNotNull(), F.col("cvd")))},
        {"risk_factors": F.when(F.col("risk_text") != "", F.col("risk_text"))},
    ]


def reason(p: dict, as_of: dt.date) -> Column:
    since = add_months(as_of, -p["bp_window_months"])
    threshold = (F.when(F.col("band_order") == 1, _threshold_text(p, "severe"))
                 .when(F.col("band_order") == 2, _threshold_text(p, "stage2"))
                 .otherwise(_threshold_text(p, "stage1")))
    history = F.when(F.col("any_diagnosis_date").isNotNull(),
                     F.concat(F.lit("no active hypertension diagnosis (last hypertension code "),
                              F.col("any_diagnosis_date").cast("string"), F.lit(", since resolved)"))) \
               .otherwise(F.lit("no hypertension diagnosis"))
    return F.concat(
        F.initcap(F.col("setting")), F.lit(" BP "), num(F.col("systolic")), F.lit("/"), num(F.col("diastolic")),
        F.lit(" on "), F.col("reading_date").cast("string"),
        F.lit(" ("), F.col("band"), F.lit(": "), threshold, F.lit(")"),
        F.when(F.col("raised_readings") > 1,
               F.concat(F.lit("; "), F.col("raised_readings").cast("string"),
                        F.lit(f" raised readings since {since.isoformat()}"))).otherwise(F.lit("")),
        F.when(F.col("band_order") == 3, F.concat(F.lit("; risk factors: "), F.col("risk_factors"))).otherwise(F.lit("")),
        F.lit("; "), history, F.lit("."))


def evidence(p: dict, as_of: dt.date) -> list[Column]:
    since = add_months(as_of, -p["bp_window_months"])
    return [
        F.col("reading_date").cast("string").alias("bp_date"), F.col("systolic"), F.col("diastolic"), F.col("setting"),
        F.col("raised_readings").alias("raised_readings_in_window"), F.lit(since.isoformat()).alias("window_start"),
        F.col("ethnicity_category"), F.col("diabetes_register").cast("string").alias("diabetes_diagnosed"),
        F.col("egfr"), F.col("egfr_date").cast("string").alias("egfr_date"),
        F.col("bmi"), F.col("bmi_date").cast("string").alias("bmi_date"), F.col("cvd"),
        F.col("any_diagnosis_date").cast("string").alias("last_hypertension_code")]


COHORT = Cohort(
    name="hypertension",
    title="Undiagnosed hypertension",
    section="§3",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date, not on the hypertension register, whose "
        "latest paired blood pressure in the last {bp_window_months} months is raised: clinic "
        "≥{clinic_stage1_systolic}/{clinic_stage1_diastolic} or home/ABPM ≥{home_stage1_systolic}/"
        "{home_stage1_diastolic}. Bands, first that holds: severe (clinic ≥{clinic_severe_systolic}/"
        "{clinic_severe_diastolic}, home ≥{home_severe_systolic}/{home_severe_diastolic}); stage 2 (clinic "
        "≥{clinic_stage2_systolic}/{clinic_stage2_diastolic}, home ≥{home_stage2_systolic}/{home_stage2_diastolic}); "
        "stage 1 with risk factor (ethnic group {risk_ethnicity_groups} or category {risk_ethnicity_categories}, "
        "diabetes, latest eGFR < {risk_egfr_below}, latest BMI > {risk_bmi_above}, or CHD / stroke-TIA / PAD); "
        "stage 1. A day's reading is its lowest systolic and lowest diastolic; a day with a home or ABPM code "
        "is a home reading. Source: NICE NG136, IIF CVD-01."),
    parameters=PARAMETERS,
    derive=derive,
    criteria=(
        Criterion("not_on_register", "No active hypertension diagnosis (latest code not resolved)",
                  lambda p: F.col("hypertension_register").isNull()),
        Criterion("not_palliative", "Not on palliative care", lambda p: F.col("palliative_date").isNull()),
        Criterion("not_pregnant", "No pregnancy code in the last {pregnancy_weeks} weeks",
                  lambda p: F.col("pregnancy_date").isNull()),
        Criterion("bp_in_window", "A paired BP reading in the last {bp_window_months} months",
                  lambda p: F.col("reading_date").isNotNull()),
        Criterion("bp_raised", "Latest paired reading raised (clinic ≥{clinic_stage1_systolic}/"
                               "{clinic_stage1_diastolic}, home/ABPM ≥{home_stage1_systolic}/{home_stage1_diastolic})",
                  lambda p: _latest_at_least(p, "stage1")),
    ),
    bands=(
        Band("severe", lambda p: _latest_at_least(p, "severe")),
        Band("stage 2", lambda p: _latest_at_least(p, "stage2")),
        Band("stage 1 with risk factor", lambda p: F.col("risk_factors").isNotNull()),
        Band("stage 1"),
    ),
    reason=reason,
    evidence=evidence,
    rank=(("systolic", True), ("days_since_reading", False)),
    columns=("systolic", "diastolic", "setting", "reading_date", "days_since_reading", "risk_factors"),
)
