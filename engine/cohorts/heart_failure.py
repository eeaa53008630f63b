"""Possible undiagnosed heart failure: CLINICAL_RULES §6 (NICE NG106).

Eligible adults not on the heart-failure register (HF_COD; no resolved list, so a resolved HF
Condition takes the patient off). Listed when the latest NT-proBNP in the window is raised and
nothing was done about it: no echocardiogram and no cardiology referral dated on or after the test
(up to the run date). A cardiology referral counts from either table, because sources record it
either way: a ServiceRequest (referrals) or a coded procedure/event (Synthea writes 183519002 as a
Procedure). Also listed, in a lower band, when loop diuretics are being issued repeatedly with no
heart-failure diagnosis (local choice). NT-proBNP is in ng/L (= pg/mL; ingest converts and
quarantines unknown units).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from engine.cohorts.base import Cohort, Rule, number_text as _num
from engine.query import (add_months, eligible, events_in, has_any, issues_in, latest_value, lit_date, on_register,
                          referrals_in)
from engine.record import Record

DEFAULTS = {
    "min_age": 18,
    "ntprobnp_window_months": 24,     # the latest NT-proBNP must be this recent
    "ntprobnp_raised_above": 400,     # ng/L: > this and unactioned → listed (within 6 weeks)
    "ntprobnp_urgent_above": 2000,    # ng/L: > this → urgent (within 2 weeks)
    "loop_diuretic_months": 6,        # window for loop-diuretic issues
    "loop_diuretic_min_issues": 2,    # at least this many distinct issues in the window
}

BANDS = ("urgent — specialist and echo within 2 weeks", "specialist and echo within 6 weeks",
         "loop diuretic without heart failure diagnosis")


def _follow_up(record: Record, as_of: dt.date) -> DataFrame:
    """patient_id, date, what: every echocardiogram and cardiology referral on or before ``as_of``."""
    return (events_in(record, "echocardiogram", as_of).select("patient_id", "date").withColumn("what", F.lit("echocardiogram"))
            .unionByName(events_in(record, "cardiology_referral", as_of).select("patient_id", "date")
                         .withColumn("what", F.lit("cardiology referral")))
            .unionByName(referrals_in(record, "cardiology_referral", as_of).select("patient_id", "date")
                         .withColumn("what", F.lit("cardiology referral"))))


def find(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    test_since = add_months(as_of, -p["ntprobnp_window_months"])
    loop_since = add_months(as_of, -p["loop_diuretic_months"])
    test = latest_value(record, "ntprobnp", as_of, since=test_since, name="ntprobnp")
    followed = (test.join(_follow_up(record, as_of), "patient_id")
                .where(F.col("date") >= F.col("ntprobnp_date"))
                .groupBy("patient_id").agg(F.min(F.struct("date", "what")).alias("_f"))
                .select("patient_id", F.col("_f.date").alias("followed_up_on"), F.col("_f.what").alias("followed_up_by")))
    loop = (issues_in(record, "med_loop_diuretic", as_of, since=loop_since, extra=("drug",))
            .groupBy("patient_id")
            .agg(F.countDistinct("source_id").alias("loop_diuretic_issues"),
                 F.min("date").alias("loop_diuretic_first"), F.max("date").alias("loop_diuretic_last"),
                 F.concat_ws(", ", F.array_sort(F.collect_set("drug"))).alias("loop_diuretics")))

    df = (eligible(record, as_of, p["min_age"]).select("patient_id")
          .join(on_register(record, "heart_failure", as_of, name="register"), "patient_id", "left")
          .join(has_any(record, "heart_failure", as_of, name="any_hf"), "patient_id", "left")
          .join(test, "patient_id", "left")
          .join(followed, "patient_id", "left")
          .join(loop, "patient_id", "left"))

    unactioned = (F.col("ntprobnp") > p["ntprobnp_raised_above"]) & F.col("followed_up_on").isNull()
    band = (F.when(unactioned & (F.col("ntprobnp") > p["ntprobnp_urgent_above"]), F.lit(1))
            .when(unactioned, F.lit(2))
            .when(F.col("loop_diuretic_issues") >= p["loop_diuretic_min_issues"], F.lit(3)))
    df = (df.withColumn("band_order", band)
            .withColumn("band", F.element_at(F.array(*map(F.lit, BANDS)), F.col("band_order")))
            .withColumn("days_since_test", F.datediff(lit_date(as_of), F.col("ntprobnp_date"))))

    test_text = F.concat(F.lit("NT-proBNP "), _num(F.col("ntprobnp")), F.lit(" ng/L on "),
                         F.col("ntprobnp_date").cast("string"))
    threshold = F.when(F.col("band_order") == 1, F.lit(f"> {p['ntprobnp_urgent_above']} ng/L")) \
                 .otherwise(F.lit(f"> {p['ntprobnp_raised_above']} ng/L"))
    loop_text = F.concat(
        F.col("loop_diuretic_issues").cast("string"), F.lit(" loop-diuretic issues ("), F.col("loop_diuretics"),
        F.lit(f") since {loop_since.isoformat()}, latest "), F.col("loop_diuretic_last").cast("string"))
    test_note = (F.when(F.col("ntprobnp").isNull(), F.lit(f"; no NT-proBNP since {test_since.isoformat()}"))
                 .when(F.col("followed_up_on").isNotNull(),
                       F.concat(F.lit("; "), test_text, F.lit(" was followed by "), F.col("followed_up_by"),
                                F.lit(" on "), F.col("followed_up_on").cast("string")))
                 .otherwise(F.concat(F.lit("; latest "), test_text,
                                     F.lit(f" (not above {p['ntprobnp_raised_above']} ng/L)"))))
    history = F.when(F.col("any_hf_date").isNotNull(),
                     F.concat(F.lit("no active heart failure diagnosis (last heart failure code "),
                              F.col("any_hf_date").cast("string"), F.lit(", since resolved)"))) \
               .otherwise(F.lit("no heart failure diagnosis"))
    reason = F.when(F.col("band_order") <= 2, F.concat(
        test_text, F.lit(" ("), threshold, F.lit(", "), F.col("days_since_test").cast("string"),
        F.lit(" days ago) with no echocardiogram or cardiology referral since"),
        F.when(F.col("loop_diuretic_issues") > 0, F.concat(F.lit("; "), loop_text)).otherwise(F.lit("")),
        F.lit("; "), history, F.lit("."))) \
        .otherwise(F.concat(loop_text, test_note, F.lit("; "), history, F.lit(".")))
    evidence = F.to_json(F.struct(
        "ntprobnp", F.col("ntprobnp_date").cast("string").alias("ntprobnp_date"), F.lit("ng/L").alias("ntprobnp_unit"),
        F.lit(test_since.isoformat()).alias("ntprobnp_window_start"),
        F.col("followed_up_on").cast("string").alias("followed_up_on"), "followed_up_by",
        "loop_diuretic_issues", "loop_diuretics",
        F.col("loop_diuretic_first").cast("string").alias("loop_diuretic_first"),
        F.col("loop_diuretic_last").cast("string").alias("loop_diuretic_last"),
        F.lit(loop_since.isoformat()).alias("loop_diuretic_window_start"),
        F.col("any_hf_date").cast("string").alias("last_heart_failure_code")))

    member = F.col("band_order").isNotNull()
    return df.select(
        "patient_id",
        F.col("register_date").isNull().alias("not_on_register"),
        member.alias("raised_ntprobnp_unactioned_or_loop_diuretic"),
        "band", "band_order",
        F.when(member, reason).alias("reason"),
        F.when(member, evidence).alias("evidence"),
        "ntprobnp", "ntprobnp_date", "days_since_test",
        "followed_up_on", F.coalesce(F.col("loop_diuretic_issues"), F.lit(0)).alias("loop_diuretic_issues"),
        "loop_diuretics")


COHORT = Cohort(
    name="heart_failure",
    title="Possible undiagnosed heart failure",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date, not on the heart failure register, whose "
        "latest NT-proBNP in the last {ntprobnp_window_months} months is above {ntprobnp_raised_above} ng/L "
        "with no echocardiogram and no cardiology referral (a referral or a coded referral procedure) dated on "
        "or after the test: urgent — specialist and echo within 2 weeks when above {ntprobnp_urgent_above} "
        "ng/L, otherwise within 6 weeks. Also listed, in a lower band (loop diuretic without heart failure "
        "diagnosis), when {loop_diuretic_min_issues} or more loop-diuretic issues (furosemide, bumetanide, "
        "torasemide) are recorded in the last {loop_diuretic_months} months (local choice). NT-proBNP pg/mL "
        "= ng/L. Source: NICE NG106 1.2."),
    defaults=DEFAULTS,
    rules=(
        Rule("not_on_register", "Not on the heart failure register"),
        Rule("raised_ntprobnp_unactioned_or_loop_diuretic",
             "Latest NT-proBNP in {ntprobnp_window_months} months > {ntprobnp_raised_above} ng/L with no echo or "
             "cardiology referral since, or ≥ {loop_diuretic_min_issues} loop-diuretic issues in "
             "{loop_diuretic_months} months"),
    ),
    find=find,
    rank=(("ntprobnp", True), ("days_since_test", True)),
    columns=("ntprobnp", "ntprobnp_date", "days_since_test", "followed_up_on", "loop_diuretic_issues",
             "loop_diuretics"),
)
