"""Possible familial hypercholesterolaemia: CLINICAL_RULES §5 (NICE CG71 / NG238; Simon Broome; DLCN).

Eligible adults with no FH code whose highest recorded cholesterol (all time, mmol/L: ingest has
already converted mg/dL) meets any of: total cholesterol > 7.5 measured before age 30 (at the test),
total cholesterol > 9.0 at any age, LDL-C > 4.9. Banded by the Dutch Lipid Clinic Network score the
facts table computes from the record (``dlcn``, a lower bound; its thresholds are in conf/facts.yaml):
DLCN > 5 → refer for genetic testing, else assess.

The reason quotes each highest value as the source recorded it beside the converted value, so a GP can
check it against the lab report ("LDL-C 192 mg/dL = 4.97 mmol/L"; "LDL-C 5.2 mmol/L" when recorded in
mmol/L), and lists the DLCN score's components with their points (the facts' ``dlcn_components``:
"LDL-C 5.2: 3, premature CHD (first code 2010-04-01, age 50): 2").
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

from engine.cohorts.declaration import Band, Cohort, Criterion
from engine.config import Param
from engine.features import rows as R
from engine.features.facts import DLCN_LOWER_BOUND_NOTE, mmol_text as num
from engine.features.rows import age_on
from engine.ingest.units import unit_key

PARAMETERS = {
    "min_age": Param("int", 0, 120),
    "tc_young_above": Param("number", 0, 30),       # total cholesterol > this, measured before ...
    "tc_young_age_below": Param("int", 0, 120),     # ... this age (whole years at the test)
    "tc_any_age_above": Param("number", 0, 30),     # total cholesterol > this at any age
    "ldl_above": Param("number", 0, 30),            # LDL-C > this
    "dlcn_refer_above": Param("number", 0, 50),     # DLCN > this → refer for genetic testing
}
UNIT = "mmol/L"     # what ingest converts every cholesterol result to (conf/units.yaml)


def highest_as_recorded(rows: str | Column) -> Column:
    """struct(value, date, value_recorded, unit_recorded): the row ``R.highest_value`` picks (the highest
    active value, its latest date on a tie) with the value and unit the source wrote."""
    return F.array_max(F.transform(R.where(rows, valued=True), lambda x: F.struct(
        x["value"].alias("value"), x["date"].alias("date"), x["value_recorded"].alias("value_recorded"),
        x["unit_recorded"].alias("unit_recorded"))))


def as_recorded(row: Column) -> Column:
    """'192 mg/dL = 4.97 mmol/L' when the source recorded another unit; '5.2 mmol/L' when it recorded
    mmol/L (or the record does not say what it recorded)."""
    converted = F.concat(num(row["value"]), F.lit(f" {UNIT}"))
    other = (row["value_recorded"].isNotNull() & row["unit_recorded"].isNotNull()
             & (unit_key(row["unit_recorded"]) != unit_key(F.lit(UNIT))))
    recorded = F.regexp_replace(row["value_recorded"].cast("string"), r"\.0$", "")
    return F.when(other, F.concat(recorded, F.lit(" "), F.trim(row["unit_recorded"]), F.lit(" = "), converted)) \
        .otherwise(converted)


def derive(p: dict, as_of: dt.date) -> list[dict[str, Column]]:
    # Each total cholesterol result with the patient's age on the day of the test.
    young_rows = F.filter(R.rows("ev_total_cholesterol"),
                          lambda x: age_on(F.col("birth_date"), x["date"]) < p["tc_young_age_below"])
    tc = highest_as_recorded("ev_total_cholesterol")       # highest value, its latest date on a tie
    young = highest_as_recorded(young_rows)
    return [
        {"fh_code_date": R.last_date("ev_fh"),
         "max_total_cholesterol": tc["value"], "max_total_cholesterol_date": tc["date"],
         "max_tc_young": young["value"], "max_tc_young_date": young["date"],
         # the same rows with what the source recorded (max_ldl is the facts' highest LDL-C row)
         "_tc_row": tc, "_tc_young_row": young, "_ldl_row": highest_as_recorded("ev_ldl_cholesterol")},
        {"max_tc_young_age": age_on(F.col("birth_date"), F.col("max_tc_young_date")),
         "_young_met": F.coalesce(F.col("max_tc_young") > p["tc_young_above"], F.lit(False)),
         "_any_age_met": F.coalesce(F.col("max_total_cholesterol") > p["tc_any_age_above"], F.lit(False)),
         "_ldl_met": F.coalesce(F.col("max_ldl") > p["ldl_above"], F.lit(False))},
        {"_raised": F.col("_young_met") | F.col("_any_age_met") | F.col("_ldl_met")},
        {"criteria": F.when(F.col("_raised"), F.concat_ws(
            "; ",
            F.when(F.col("_young_met"), F.concat(
                F.lit("total cholesterol "), as_recorded(F.col("_tc_young_row")), F.lit(" on "),
                F.col("max_tc_young_date").cast("string"), F.lit(" at age "), F.col("max_tc_young_age").cast("string"),
                F.lit(f" (> {p['tc_young_above']} under {p['tc_young_age_below']})"))),
            F.when(F.col("_any_age_met"), F.concat(
                F.lit("total cholesterol "), as_recorded(F.col("_tc_row")), F.lit(" on "),
                F.col("max_total_cholesterol_date").cast("string"), F.lit(f" (> {p['tc_any_age_above']})"))),
            F.when(F.col("_ldl_met"), F.concat(
                F.lit("LDL-C "), as_recorded(F.col("_ldl_row")), F.lit(" on "), F.col("max_ldl_date").cast("string"),
                F.lit(f" (> {p['ldl_above']})")))))},
    ]


def reason(p: dict, as_of: dt.date) -> Column:
    return F.concat(
        F.lit("Highest recorded "), F.col("criteria"),
        F.lit(". DLCN score at least "), F.col("dlcn").cast("string"),
        F.when(F.col("band_order") == 1, F.lit(f" (> {p['dlcn_refer_above']}: refer for genetic testing)"))
         .otherwise(F.lit(f" (not above {p['dlcn_refer_above']}: assess)")),
        F.lit(" from "), F.col("dlcn_components"), F.lit(f" — {DLCN_LOWER_BOUND_NOTE}. No FH diagnosis code."))


def evidence(p: dict, as_of: dt.date) -> list[Column]:
    return [
        F.col("max_total_cholesterol"),
        F.col("max_total_cholesterol_date").cast("string").alias("max_total_cholesterol_date"),
        F.col("max_tc_young").alias("max_total_cholesterol_under_age"),
        F.col("max_tc_young_date").cast("string").alias("max_total_cholesterol_under_age_date"),
        F.col("max_tc_young_age").alias("age_at_that_test"),
        F.col("max_ldl"), F.col("max_ldl_date").cast("string").alias("max_ldl_date"),
        F.col("dlcn").alias("dlcn_lower_bound"), F.col("dlcn_ldl_points"), F.col("dlcn_history_points"),
        F.col("dlcn_exam_points"),
        F.col("first_chd_date").cast("string").alias("first_chd_code"), F.col("first_chd_age"),
        F.col("first_vascular_date").cast("string").alias("first_stroke_tia_or_pad_code"), F.col("first_vascular_age"),
        F.col("xanthoma_date").cast("string").alias("tendon_xanthoma_code"),
        F.lit("mmol/L").alias("unit")]


COHORT = Cohort(
    name="fh",
    title="Possible familial hypercholesterolaemia",
    section="§5",
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
        "otherwise assess. The DLCN thresholds are facts (conf/facts.yaml), shared with the risk features. "
        "Source: NICE CG71 1.1.2 and 1.1.6, Simon Broome, DLCN (Nordestgaard 2013)."),
    parameters=PARAMETERS,
    derive=derive,
    criteria=(
        Criterion("not_coded_fh", "No familial hypercholesterolaemia code",
                  lambda p: F.col("fh_code_date").isNull()),
        Criterion("cholesterol_recorded", "A total or LDL cholesterol result recorded",
                  lambda p: F.col("max_total_cholesterol").isNotNull() | F.col("max_ldl").isNotNull()),
        Criterion("cholesterol_raised",
                  "Highest total cholesterol > {tc_young_above} mmol/L before age {tc_young_age_below} "
                  "or > {tc_any_age_above} at any age, or highest LDL-C > {ldl_above} mmol/L",
                  lambda p: F.col("_raised")),
    ),
    bands=(
        Band("refer for genetic testing", lambda p: F.col("dlcn") > p["dlcn_refer_above"]),
        Band("assess"),
    ),
    reason=reason,
    evidence=evidence,
    rank=(("dlcn", True), ("max_ldl", True)),
    columns=("dlcn", "max_ldl", "max_ldl_date", "max_total_cholesterol", "max_total_cholesterol_date",
             "criteria", "dlcn_components"),
)
