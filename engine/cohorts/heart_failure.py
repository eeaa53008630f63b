"""Possible undiagnosed heart failure: CLINICAL_RULES §6 (NICE NG106).

Eligible adults not on the heart-failure register (HF_COD; no resolved list, so a resolved HF
Condition takes the patient off). Listed when the latest NT-proBNP in the window is raised and
nothing was done about it: no echocardiogram and no cardiology referral dated on or after the test
(up to the run date). A cardiology referral counts from either table, because sources record it
either way: a ServiceRequest (``ref_cardiology_referral``) or a coded procedure/event
(``ev_cardiology_referral``; Synthea writes 183519002 as a Procedure). Also listed, in a lower band,
when loop diuretics are being issued repeatedly (local choice). NT-proBNP is in ng/L (= pg/mL;
ingest converts and quarantines unknown units).
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
    "ntprobnp_window_months": Param("int", 1, 240),
    "ntprobnp_raised_above": Param("number", 0, 100000),
    "ntprobnp_urgent_above": Param("number", 0, 100000),
    "loop_diuretic_months": Param("int", 1, 240),
    "loop_diuretic_min_issues": Param("int", 1, 1000),
}

ECHO, REFERRAL = "echocardiogram", "cardiology referral"


def _follow_ups(test_date: Column) -> Column:
    """struct(date, what) of every echocardiogram and cardiology referral (event or referral) on or
    after the test: ``array_min`` of it is the earliest, a same-day tie going to the name first in
    alphabetical order ('cardiology referral')."""
    def tagged(rows: Column, what: str) -> Column:
        return F.transform(rows, lambda x: F.struct(x["date"].alias("date"), F.lit(what).alias("what")))
    every = F.concat(tagged(R.where("ev_echocardiogram"), ECHO),
                     tagged(R.where("ev_cardiology_referral"), REFERRAL),
                     tagged(R.rows("ref_cardiology_referral"), REFERRAL))
    return F.filter(every, lambda x: x["date"] >= test_date)


def derive(p: dict, as_of: dt.date) -> list[dict[str, Column]]:
    test = R.latest_value("ev_ntprobnp", add_months(as_of, -p["ntprobnp_window_months"]))
    loop_since = add_months(as_of, -p["loop_diuretic_months"])
    # issued in the window: issues, and repeat authorisations covering any day of it (§0)
    loop = R.issued("rx_loop_diuretic", loop_since)
    issued = F.size(loop) > 0
    latest = R.last_taken(loop)
    return [
        {"ntprobnp": test["value"], "ntprobnp_date": test["date"],
         "any_hf_date": F.coalesce(R.last_date("ev_heart_failure"), R.last_date("ev_heart_failure", status=None)),
         # any heart failure code ever, active or resolved (a resolved code: the diagnosis was made)
         "_hf_ever": F.size(R.where("ev_heart_failure", status=None)) > 0,
         # null (not 0) when no issue is in the window: the evidence leaves it out; implied issues count
         "_loop_issues": F.when(issued, R.issue_count("rx_loop_diuretic", loop_since)),
         "loop_diuretic_first": F.when(issued, F.array_min(F.transform(loop, lambda x: x["date"]))),
         "loop_diuretic_last": F.when(issued, latest["date"]),
         "loop_diuretic_how": R.taken_text(latest, as_of),
         "loop_diuretics": F.when(issued, F.array_join(F.array_sort(F.array_distinct(
             F.transform(loop, lambda x: x["tag"]))), ", "))},
        {"_follow_up": F.array_min(_follow_ups(F.col("ntprobnp_date"))),
         "days_since_test": F.datediff(lit_date(as_of), F.col("ntprobnp_date")),
         "loop_diuretic_issues": F.coalesce(F.col("_loop_issues"), F.lit(0))},
        {"followed_up_on": F.col("_follow_up.date"), "followed_up_by": F.col("_follow_up.what")},
        {"_unactioned": (F.col("ntprobnp") > p["ntprobnp_raised_above"]) & F.col("followed_up_on").isNull(),
         # the loop-diuretic route needs no heart failure code ever (CLINICAL_RULES §6)
         "_loop": (F.col("_loop_issues") >= p["loop_diuretic_min_issues"]) & ~F.col("_hf_ever")},
    ]


def reason(p: dict, as_of: dt.date) -> Column:
    test_since = add_months(as_of, -p["ntprobnp_window_months"])
    loop_since = add_months(as_of, -p["loop_diuretic_months"])
    test_text = F.concat(F.lit("NT-proBNP "), num(F.col("ntprobnp")), F.lit(" ng/L on "),
                         F.col("ntprobnp_date").cast("string"))
    threshold = F.when(F.col("band_order") == 1, F.lit(f"> {p['ntprobnp_urgent_above']} ng/L")) \
                 .otherwise(F.lit(f"> {p['ntprobnp_raised_above']} ng/L"))
    loop_text = F.concat(
        F.col("_loop_issues").cast("string"), F.lit(" loop-diuretic issues ("), F.col("loop_diuretics"),
        F.lit(f") since {loop_since.isoformat()}, latest "), F.col("loop_diuretic_how"))
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
    return F.when(F.col("band_order") <= 2, F.concat(
        test_text, F.lit(" ("), threshold, F.lit(", "), F.col("days_since_test").cast("string"),
        F.lit(" days ago) with no echocardiogram or cardiology referral since"),
        F.when(F.col("_loop_issues") > 0, F.concat(F.lit("; "), loop_text)).otherwise(F.lit("")),
        F.lit("; "), history, F.lit("."))) \
        .otherwise(F.concat(loop_text, test_note, F.lit("; "), history, F.lit(".")))


def evidence(p: dict, as_of: dt.date) -> list[Column]:
    return [
        F.col("ntprobnp"), F.col("ntprobnp_date").cast("string").alias("ntprobnp_date"),
        F.lit("ng/L").alias("ntprobnp_unit"),
        F.lit(add_months(as_of, -p["ntprobnp_window_months"]).isoformat()).alias("ntprobnp_window_start"),
        F.col("followed_up_on").cast("string").alias("followed_up_on"), F.col("followed_up_by"),
        F.col("_loop_issues").alias("loop_diuretic_issues"), F.col("loop_diuretics"),
        F.col("loop_diuretic_first").cast("string").alias("loop_diuretic_first"),
        F.col("loop_diuretic_last").cast("string").alias("loop_diuretic_last"),
        F.lit(add_months(as_of, -p["loop_diuretic_months"]).isoformat()).alias("loop_diuretic_window_start"),
        F.col("any_hf_date").cast("string").alias("last_heart_failure_code")]


COHORT = Cohort(
    name="heart_failure",
    title="Possible undiagnosed heart failure",
    section="§6",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date, not on the heart failure register, whose "
        "latest NT-proBNP in the last {ntprobnp_window_months} months is above {ntprobnp_raised_above} ng/L "
        "with no echocardiogram and no cardiology referral (a referral or a coded referral procedure) dated on "
        "or after the test: urgent — specialist and echo within 2 weeks when above {ntprobnp_urgent_above} "
        "ng/L, otherwise within 6 weeks. Also listed, in a lower band (loop diuretic without heart failure "
        "diagnosis), when {loop_diuretic_min_issues} or more loop-diuretic issues (furosemide, bumetanide, "
        "torasemide; counting the issues a repeat authorisation implies) are recorded in the last "
        "{loop_diuretic_months} months and no heart failure code was ever recorded, active or resolved "
        "(local choice). NT-proBNP pg/mL "
        "= ng/L. Source: NICE NG106 1.2."),
    parameters=PARAMETERS,
    derive=derive,
    criteria=(
        Criterion("not_on_register", "Not on the heart failure register",
                  lambda p: F.col("heart_failure_register").isNull()),
        Criterion("raised_ntprobnp_unactioned_or_loop_diuretic",
                  "Latest NT-proBNP in {ntprobnp_window_months} months > {ntprobnp_raised_above} ng/L with no echo "
                  "or cardiology referral since, or ≥ {loop_diuretic_min_issues} loop-diuretic issues in "
                  "{loop_diuretic_months} months",
                  lambda p: F.col("_unactioned") | F.col("_loop")),
    ),
    bands=(
        Band("urgent — specialist and echo within 2 weeks",
             lambda p: F.col("_unactioned") & (F.col("ntprobnp") > p["ntprobnp_urgent_above"])),
        Band("specialist and echo within 6 weeks", lambda p: F.col("_unactioned")),
        Band("loop diuretic without heart failure diagnosis"),
    ),
    reason=reason,
    evidence=evidence,
    rank=(("ntprobnp", True), ("days_since_test", True)),
    columns=("ntprobnp", "ntprobnp_date", "days_since_test", "followed_up_on", "loop_diuretic_issues",
             "loop_diuretics"),
)
