"""Undiagnosed hypertension: CLINICAL_RULES §3 (NICE NG136; IIF CVD-01; UCLPartners).

Eligible adults not on the hypertension register, not palliative, not recently pregnant, whose
latest paired BP in the window is raised, banded by the first band that holds.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from engine.cohorts.base import Cohort, Rule, number_text as _num
from engine.features.blood_pressure import days_before, latest_reading, paired_readings
from engine.query import add_months, eligible, has_any, latest_value, on_register
from engine.record import Record

DEFAULTS = {
    "min_age": 18,
    "bp_window_months": 24,
    "pregnancy_weeks": 42,
    "clinic_severe_systolic": 180, "clinic_severe_diastolic": 120,
    "home_severe_systolic": 170, "home_severe_diastolic": 115,
    "clinic_stage2_systolic": 160, "clinic_stage2_diastolic": 100,
    "home_stage2_systolic": 150, "home_stage2_diastolic": 95,
    "clinic_stage1_systolic": 140, "clinic_stage1_diastolic": 90,
    "home_stage1_systolic": 135, "home_stage1_diastolic": 85,
    "risk_egfr_below": 60.0,
    "risk_bmi_above": 35.0,
    "risk_ethnicity_groups": ["Black"],
    "risk_ethnicity_categories": ["Indian", "Pakistani", "Bangladeshi"],
}

BANDS = ("severe", "stage 2", "stage 1 with risk factor", "stage 1")


def _at_least(p: dict, level: str) -> Column:
    def over(setting: str) -> Column:
        return ((F.col("systolic") >= p[f"{setting}_{level}_systolic"]) |
                (F.col("diastolic") >= p[f"{setting}_{level}_diastolic"]))
    return F.when(F.col("setting") == "home", over("home")).otherwise(over("clinic"))


def _threshold_text(p: dict, level: str) -> Column:
    def text(setting: str) -> str:
        return f"≥{p[f'{setting}_{level}_systolic']}/{p[f'{setting}_{level}_diastolic']}"
    return F.when(F.col("setting") == "home", F.lit(text("home") + " home/ABPM")).otherwise(F.lit(text("clinic") + " clinic"))


def _risk_factors(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    """patient_id plus the value behind each stage-1 risk factor (null where absent)."""
    cvd = (on_register(record, "chd", as_of, name="cvd").withColumn("cvd_kind", F.lit("coronary heart disease"))
           .unionByName(on_register(record, "stroke_tia", as_of, name="cvd").withColumn("cvd_kind", F.lit("stroke/TIA")))
           .unionByName(on_register(record, "pad", as_of, name="cvd").withColumn("cvd_kind", F.lit("peripheral arterial disease")))
           .groupBy("patient_id").agg(F.concat_ws(", ", F.array_sort(F.collect_set("cvd_kind"))).alias("cvd")))
    return (on_register(record, "diabetes", as_of, resolved="diabetes_resolved", name="diabetes")
            .join(latest_value(record, "egfr", as_of, name="egfr"), "patient_id", "full")
            .join(latest_value(record, "bmi", as_of, name="bmi"), "patient_id", "full")
            .join(cvd, "patient_id", "full"))


def find(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    since = add_months(as_of, -p["bp_window_months"])
    readings = paired_readings(record, as_of, since)
    raised_days = (readings.where(_at_least(p, "stage1"))
                   .groupBy("patient_id").agg(F.count("*").alias("raised_readings")))
    population = eligible(record, as_of, p["min_age"]).select(
        "patient_id", "ethnicity_group", "ethnicity_category")

    df = (population
          .join(on_register(record, "hypertension", as_of, resolved="hypertension_resolved", name="register"),
                "patient_id", "left")
          .join(has_any(record, "hypertension", as_of, name="any_diagnosis"), "patient_id", "left")
          .join(has_any(record, "palliative", as_of, name="palliative"), "patient_id", "left")
          .join(has_any(record, "pregnancy", as_of, since=as_of - dt.timedelta(weeks=p["pregnancy_weeks"]),
                        name="pregnancy"), "patient_id", "left")
          .join(latest_reading(readings), "patient_id", "left")
          .join(raised_days, "patient_id", "left")
          .join(_risk_factors(record, as_of, p), "patient_id", "left"))

    ethnic_risk = (F.col("ethnicity_group").isin(p["risk_ethnicity_groups"]) |
                   F.col("ethnicity_category").isin(p["risk_ethnicity_categories"]))
    risk_text = F.concat_ws("; ",
        F.when(ethnic_risk, F.concat(F.lit("ethnicity "), F.coalesce(F.col("ethnicity_category"), F.col("ethnicity_group")))),
        F.when(F.col("diabetes_date").isNotNull(), F.lit("diabetes")),
        F.when(F.col("egfr") < p["risk_egfr_below"],
               F.concat(F.lit("eGFR "), _num(F.col("egfr")), F.lit(" on "), F.col("egfr_date").cast("string"))),
        F.when(F.col("bmi") > p["risk_bmi_above"],
               F.concat(F.lit("BMI "), _num(F.col("bmi")), F.lit(" on "), F.col("bmi_date").cast("string"))),
        F.when(F.col("cvd").isNotNull(), F.col("cvd")))
    df = df.withColumn("risk_factors", risk_text)

    band = (F.when(_at_least(p, "severe"), F.lit(1)).when(_at_least(p, "stage2"), F.lit(2))
            .when(_at_least(p, "stage1") & (F.col("risk_factors") != ""), F.lit(3))
            .when(_at_least(p, "stage1"), F.lit(4)))
    threshold = (F.when(F.col("band_order") == 1, _threshold_text(p, "severe"))
                 .when(F.col("band_order") == 2, _threshold_text(p, "stage2"))
                 .otherwise(_threshold_text(p, "stage1")))
    df = (df.withColumn("band_order", band)
            .withColumn("band", F.element_at(F.array(*map(F.lit, BANDS)), F.col("band_order")))
            .withColumn("days_since_reading", days_before(as_of))
            .withColumnRenamed("date", "reading_date"))

    history = F.when(F.col("any_diagnosis_date").isNotNull(),
                     F.concat(F.lit("no active hypertension diagnosis (last hypertension code "),
                              F.col("any_diagnosis_date").cast("string"), F.lit(", since resolved)"))) \
               .otherwise(F.lit("no hypertension diagnosis"))
    reason = F.concat(
        F.initcap(F.col("setting")), F.lit(" BP "), _num(F.col("systolic")), F.lit("/"), _num(F.col("diastolic")),
        F.lit(" on "), F.col("reading_date").cast("string"),
        F.lit(" ("), F.col("band"), F.lit(": "), threshold, F.lit(")"),
        F.when(F.col("raised_readings") > 1,
               F.concat(F.lit("; "), F.col("raised_readings").cast("string"),
                        F.lit(f" raised readings since {since.isoformat()}"))).otherwise(F.lit("")),
        F.when(F.col("band_order") == 3, F.concat(F.lit("; risk factors: "), F.col("risk_factors"))).otherwise(F.lit("")),
        F.lit("; "), history, F.lit("."))
    evidence = F.to_json(F.struct(
        F.col("reading_date").cast("string").alias("bp_date"), "systolic", "diastolic", "setting",
        F.col("raised_readings").alias("raised_readings_in_window"), F.lit(since.isoformat()).alias("window_start"),
        "ethnicity_category", F.col("diabetes_date").cast("string").alias("diabetes_diagnosed"),
        "egfr", F.col("egfr_date").cast("string").alias("egfr_date"),
        "bmi", F.col("bmi_date").cast("string").alias("bmi_date"), F.col("cvd").alias("cvd"),
        F.col("any_diagnosis_date").cast("string").alias("last_hypertension_code")))

    return df.select(
        "patient_id",
        F.col("register_date").isNull().alias("not_on_register"),
        F.col("palliative_date").isNull().alias("not_palliative"),
        F.col("pregnancy_date").isNull().alias("not_pregnant"),
        F.col("reading_date").isNotNull().alias("bp_in_window"),
        F.col("band_order").isNotNull().alias("bp_raised"),
        "band", "band_order",
        F.when(F.col("band_order").isNotNull(), reason).alias("reason"),
        F.when(F.col("band_order").isNotNull(), evidence).alias("evidence"),
        "systolic", "diastolic", "setting", "reading_date", "days_since_reading",
        F.when(F.col("risk_factors") != "", F.col("risk_factors")).alias("risk_factors"))


COHORT = Cohort(
    name="hypertension",
    title="Undiagnosed hypertension",
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
    defaults=DEFAULTS,
    rules=(
        Rule("not_on_register", "No active hypertension diagnosis (latest code not resolved)"),
        Rule("not_palliative", "Not on palliative care"),
        Rule("not_pregnant", "No pregnancy code in the last {pregnancy_weeks} weeks"),
        Rule("bp_in_window", "A paired BP reading in the last {bp_window_months} months"),
        Rule("bp_raised", "Latest paired reading raised (clinic ≥{clinic_stage1_systolic}/"
                          "{clinic_stage1_diastolic}, home/ABPM ≥{home_stage1_systolic}/{home_stage1_diastolic})"),
    ),
    find=find,
    rank=(("systolic", True), ("days_since_reading", False)),
    columns=("systolic", "diastolic", "setting", "reading_date", "days_since_reading", "risk_factors"),
)
