"""The electronic Frailty Index (eFI), as CLINICAL_RULES §8 defines it [Clegg et al., Age Ageing 2016].

eFI = deficits present ÷ 36. A deficit is present when any code in its list is on the record on or
before ``as_of`` ("first occurrence ever": active and resolved rows both count, so a condition once
recorded stays counted), except two with windows: polypharmacy = ≥ 5 distinct medicines issued in
the last 12 months, and falls = a fall code dated in the last 12 months (an active row: the
resolved row of a fall Condition is dated at its abatement, not at a fall). A deficit counts once however
many of its codes are present. Refuted and entered-in-error rows never count; nothing after
``as_of`` counts. Bands: fit ≤ 0.12, mild ≤ 0.24, moderate ≤ 0.36, severe > 0.36 — with 36
deficits that is fit 0–4, mild 5–8, moderate 9–12, severe 13 or more.

The 36 deficits (``DEFICITS``), the list each reads (conf/codelists/<list>.csv) and whether the
canonical record can hold it:

| # | deficit                  | codelist                    | held as                                  |
|---|--------------------------|-----------------------------|------------------------------------------|
| 1 | activity limitation      | efi_activity_limitation     | coded event                              |
| 2 | anaemia                  | efi_anaemia                 | coded event                              |
| 3 | arthritis                | efi_arthritis               | coded event                              |
| 4 | atrial fibrillation      | af (shared, AFIB_COD core)  | coded event                              |
| 5 | cerebrovascular disease  | stroke_tia (shared)         | coded event                              |
| 6 | chronic kidney disease   | efi_ckd                     | coded event                              |
| 7 | diabetes                 | diabetes (shared, DM_COD)   | coded event                              |
| 8 | dizziness                | efi_dizziness               | coded event                              |
| 9 | dyspnoea                 | efi_dyspnoea                | coded event                              |
|10 | falls (12 months)        | falls (shared, §1 codes)    | coded event in the window                |
|11 | foot problems            | efi_foot_problems           | coded event                              |
|12 | fragility fracture       | efi_fragility_fracture      | coded event                              |
|13 | hearing impairment       | efi_hearing_impairment      | coded event                              |
|14 | heart failure            | heart_failure (shared)      | coded event                              |
|15 | heart valve disease      | efi_valve_disease           | coded event                              |
|16 | housebound               | housebound (shared)         | coded event                              |
|17 | hypertension             | hypertension (shared)       | coded event                              |
|18 | hypotension / syncope    | efi_hypotension_syncope     | coded event                              |
|19 | ischaemic heart disease  | chd (shared, CHD_COD core)  | coded event                              |
|20 | memory / cognitive       | efi_memory_cognitive        | coded event                              |
|21 | mobility problems        | efi_mobility_problems       | coded event                              |
|22 | osteoporosis             | efi_osteoporosis            | coded event                              |
|23 | parkinsonism / tremor    | efi_parkinsonism_tremor     | coded event                              |
|24 | peptic ulcer             | efi_peptic_ulcer            | coded event                              |
|25 | peripheral vascular dis. | efi_pvd                     | coded event                              |
|26 | polypharmacy             | (none: medications table)   | medication issues, any medicine          |
|27 | requirement for care     | efi_care_requirement        | coded event                              |
|28 | respiratory disease      | efi_respiratory_disease     | coded event                              |
|29 | skin ulcer               | efi_skin_ulcer              | coded event                              |
|30 | sleep disturbance        | efi_sleep_disturbance       | coded event                              |
|31 | social vulnerability     | efi_social_vulnerability    | coded event                              |
|32 | thyroid disease          | efi_thyroid_disease         | coded event                              |
|33 | urinary incontinence     | efi_urinary_incontinence    | coded event                              |
|34 | urinary system disease   | efi_urinary_system_disease  | coded event                              |
|35 | visual impairment        | efi_visual_impairment       | coded event                              |
|36 | weight loss / anorexia   | efi_weight_loss             | coded event                              |

Every deficit can be held by the canonical record: 35 as coded events (``events``: conditions,
observations, procedures — any kind), polypharmacy from ``medications``. The efi_* lists are core
members of the GM-SDE eFI code sets (UoM-Data-Science-Platforms/gm-sde), which reproduce the
original eFI Read codes in SNOMED CT; each file's header names its source and scope. Eight deficits
reuse the engine's shared lists where the concept is the same (af, stroke_tia, diabetes, falls,
heart_failure, housebound, hypertension, chd): these are narrower than the GM-SDE eFI sets (which
add e.g. home-visit codes to housebound and "old age" to falls), so the eFI here can read lower
than a full-refset eFI; dropping the full sets into conf/codelists widens it without a code
change. The eFI is read from codes alone: "ever" ignores resolution, as the original does.

Polypharmacy counts distinct medicines as ``engine.query.current_medicines`` does (a medicine is a
(system, code); an issue coded twice counts once, as its smallest coding; cancelled, draft and
entered-in-error issues never count), over the 12-month window. "Last 12 months" = on or after
``add_months(as_of, -12)`` and on or before ``as_of``.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from engine.query import NOT_ISSUED, add_months, lit_date
from engine.record import Record

N_DEFICITS = 36
POLYPHARMACY_MIN = 5
WINDOW_MONTHS = 12          # polypharmacy and falls
BANDS = (("fit", 0.12), ("mild", 0.24), ("moderate", 0.36))   # (band, upper bound inclusive); above: severe

# (deficit, codelist, windowed): windowed deficits count only in the last WINDOW_MONTHS months.
DEFICITS = (
    ("activity limitation", "efi_activity_limitation", False),
    ("anaemia", "efi_anaemia", False),
    ("arthritis", "efi_arthritis", False),
    ("atrial fibrillation", "af", False),
    ("cerebrovascular disease", "stroke_tia", False),
    ("chronic kidney disease", "efi_ckd", False),
    ("diabetes", "diabetes", False),
    ("dizziness", "efi_dizziness", False),
    ("dyspnoea", "efi_dyspnoea", False),
    ("falls", "falls", True),
    ("foot problems", "efi_foot_problems", False),
    ("fragility fracture", "efi_fragility_fracture", False),
    ("hearing impairment", "efi_hearing_impairment", False),
    ("heart failure", "heart_failure", False),
    ("heart valve disease", "efi_valve_disease", False),
    ("housebound", "housebound", False),
    ("hypertension", "hypertension", False),
    ("hypotension/syncope", "efi_hypotension_syncope", False),
    ("ischaemic heart disease", "chd", False),
    ("memory/cognitive problems", "efi_memory_cognitive", False),
    ("mobility problems", "efi_mobility_problems", False),
    ("osteoporosis", "efi_osteoporosis", False),
    ("parkinsonism/tremor", "efi_parkinsonism_tremor", False),
    ("peptic ulcer", "efi_peptic_ulcer", False),
    ("peripheral vascular disease", "efi_pvd", False),
    ("requirement for care", "efi_care_requirement", False),
    ("respiratory disease", "efi_respiratory_disease", False),
    ("skin ulcer", "efi_skin_ulcer", False),
    ("sleep disturbance", "efi_sleep_disturbance", False),
    ("social vulnerability", "efi_social_vulnerability", False),
    ("thyroid disease", "efi_thyroid_disease", False),
    ("urinary incontinence", "efi_urinary_incontinence", False),
    ("urinary system disease", "efi_urinary_system_disease", False),
    ("visual impairment", "efi_visual_impairment", False),
    ("weight loss/anorexia", "efi_weight_loss", False),
)
POLYPHARMACY = "polypharmacy"
assert len(DEFICITS) + 1 == N_DEFICITS

COUNTED = ("active", "resolved")   # "ever": a resolved condition was still once present


def band(efi: Column) -> Column:
    """'fit' / 'mild' / 'moderate' / 'severe' for an eFI column (upper bounds inclusive)."""
    out = F.lit("severe")
    for name, upper in reversed(BANDS):
        out = F.when(efi <= F.lit(upper), F.lit(name)).otherwise(out)
    return out


def coded_deficits(record: Record, as_of: dt.date) -> DataFrame:
    """patient_id, deficit: one row per coded deficit present (one code list join for all 35)."""
    codes = None
    for deficit, codelist, windowed in DEFICITS:
        part = record.codes(codelist).select("system", "code", F.lit(deficit).alias("deficit"),
                                             F.lit(windowed).alias("windowed"))
        codes = part if codes is None else codes.unionByName(part)
    since = lit_date(add_months(as_of, -WINDOW_MONTHS))
    events = record.events.where((F.col("date") <= lit_date(as_of)) & F.col("status").isin(*COUNTED))
    return (events.join(F.broadcast(codes), ["system", "code"])
            .where(~F.col("windowed") | ((F.col("date") >= since) & (F.col("status") == "active")))
            .select("patient_id", "deficit").distinct())


def medicines_in(record: Record, as_of: dt.date, since: dt.date, name: str = "medicines_12m") -> DataFrame:
    """patient_id, <name>: distinct medicines issued since ``since`` (dual-coded issue counted once)."""
    cond = (F.col("date") <= lit_date(as_of)) & (F.col("date") >= lit_date(since)) & \
        ~F.coalesce(F.col("status"), F.lit("")).isin(*NOT_ISSUED)
    per_issue = (record.medications.where(cond).groupBy("patient_id", "source_id")
                 .agg(F.min(F.struct("system", "code")).alias("medicine")))
    return per_issue.groupBy("patient_id").agg(F.countDistinct("medicine").alias(name))


def efi(record: Record, as_of: dt.date) -> DataFrame:
    """One row per patient in record.patients: patient_id, efi (double, deficits / 36),
    efi_deficits (int), efi_band (fit / mild / moderate / severe), efi_deficit_list (the deficits
    present, alphabetical, comma-separated; empty when none)."""
    poly = (medicines_in(record, as_of, add_months(as_of, -WINDOW_MONTHS))
            .where(F.col("medicines_12m") >= POLYPHARMACY_MIN)
            .select("patient_id", F.lit(POLYPHARMACY).alias("deficit")))
    present = (coded_deficits(record, as_of).unionByName(poly)
               .groupBy("patient_id")
               .agg(F.count("deficit").alias("efi_deficits"),
                    F.concat_ws(", ", F.array_sort(F.collect_list("deficit"))).alias("efi_deficit_list")))
    df = (record.patients.select("patient_id").join(present, "patient_id", "left")
          .withColumn("efi_deficits", F.coalesce(F.col("efi_deficits"), F.lit(0)).cast("int"))
          .withColumn("efi_deficit_list", F.coalesce(F.col("efi_deficit_list"), F.lit("")))
          .withColumn("efi", (F.col("efi_deficits") / F.lit(float(N_DEFICITS))).cast("double")))
    return df.select("patient_id", "efi", "efi_deficits", band(F.col("efi")).alias("efi_band"), "efi_deficit_list")


def efi_text(prefix: str = "") -> Column:
    """'eFI 0.389 (14/36: anaemia, …)' from the efi columns, for reason sentences."""
    return F.concat(F.lit(prefix + "eFI "), F.format_number(F.col("efi"), 3), F.lit(" ("),
                    F.col("efi_deficits").cast("string"), F.lit(f"/{N_DEFICITS}: "), F.col("efi_deficit_list"), F.lit(")"))
