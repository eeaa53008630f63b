"""One row of features per patient as of ``as_of``: what the risk model and the cohorts read.

Every column comes from a primitive the cohorts already use, so a feature here means the same as
in a worklist rule (CLINICAL_RULES §0, §8):

- demographics: ``age`` (whole years on ``as_of``), ``sex``, ``imd_decile``, ``imd_quintile``
  (ceil(decile / 2): 1 = most deprived fifth), ``ethnicity_group``; ``alive_registered``: the §0
  eligibility test (registered and alive on ``as_of``, any age).
- long-term conditions: ``ltc_<name>`` for each of ``LTC`` — on the register (latest diagnosis not
  resolved, ``engine.query.on_register``, with the condition's ``<name>_resolved`` list where one
  exists) — and ``ltc_count``, how many of them.
- medicines: ``current_medicines`` (distinct medicines issued in the last 90 days,
  ``engine.query.current_medicines``) and ``med_<class>`` for every ``conf/codelists/med_<class>.csv``:
  at least one issue in the last ``MEDICINE_DAYS`` days ("currently on").
- latest values ever recorded on or before ``as_of``: ``egfr`` (mL/min/1.73m²), ``bmi`` (null when
  none is recorded).
- ``emergency_admissions_12m`` (days with an emergency admission, ``engine.cohorts.care_home``) and
  ``falls_12m`` (days with a ``falls`` code) in the last 12 months; ``emergency_admissions_24m``, the
  same over 24 months (an admission two years ago still says something about a patient's health, and
  QAdmissions-style models read prior admissions); ``care_home`` (a resident as the care-home
  worklist defines one).
- ``frailty_coded``: the most severe frailty code ever recorded on or before ``as_of`` —
  ``severe`` (``frailty_severe``), ``moderate`` (``frailty_moderate``) or ``none``: a clinician's
  frailty assessment, which the eFI (counted deficits) does not read.
- scores: ``cha2ds2_vasc`` (``engine.features.cha2ds2_vasc``) and ``dlcn`` (the lower-bound DLCN
  score, ``engine.features.dlcn`` with its default thresholds).
- frailty: when ``engine.features.efi`` is installed, its columns ``efi``, ``efi_deficits``,
  ``efi_band`` and ``efi_deficit_list`` follow (``FEATURE_COLUMNS`` lists the columns without them).

Counts and flags are never null (0 / false when nothing is recorded); ``egfr``, ``bmi``,
``imd_*``, ``ethnicity_group`` and ``sex`` are null when the record does not hold them.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from engine.config import conf_dir
from engine.query import add_months, age_at, current_medicines, eligible, events_in, has_any, issues_in, \
    latest_value, on_register
from engine.record import Record

# Long-term condition → its resolved codelist (None: only resolved Condition rows end it).
LTC = {
    "hypertension": "hypertension_resolved",
    "diabetes": "diabetes_resolved",
    "chd": None,
    "stroke_tia": None,
    "pad": None,
    "heart_failure": None,
    "af": "af_resolved",
    "asthma": "asthma_resolved",
}
MEDICINE_DAYS = 90
WINDOW_MONTHS = 12


def medicine_classes(record: Record) -> list[str]:
    """The medicine classes with a codelist (``med_<class>.csv``), sorted: ``anticoagulant_oral``, ..."""
    folder = Path(record.codelist_dir) if record.codelist_dir else conf_dir() / "codelists"
    return sorted(p.stem[len("med_"):] for p in folder.glob("med_*.csv"))


def efi_available() -> bool:
    return importlib.util.find_spec("engine.features.efi") is not None


def feature_columns(record: Record) -> list[str]:
    """The columns ``patient_features`` returns before the eFI columns, in order."""
    return ["patient_id", "age", "sex", "imd_decile", "imd_quintile", "ethnicity_group", "alive_registered",
            *[f"ltc_{name}" for name in LTC], "ltc_count", "current_medicines",
            *[f"med_{c}" for c in medicine_classes(record)],
            "egfr", "bmi", "emergency_admissions_12m", "emergency_admissions_24m", "falls_12m", "care_home",
            "frailty_coded", "cha2ds2_vasc", "dlcn"]


EFI_COLUMNS = ["efi", "efi_deficits", "efi_band", "efi_deficit_list"]


def _flag(name: str) -> F.Column:
    return F.col(name).isNotNull()


def patient_features(record: Record, as_of: dt.date) -> DataFrame:
    """One row per patient in ``record.patients``: the columns ``feature_columns`` names (then the eFI's)."""
    from engine.cohorts import care_home
    from engine.features.cha2ds2_vasc import cha2ds2_vasc
    from engine.features.dlcn import DEFAULTS as DLCN_DEFAULTS, dlcn

    since_12m = add_months(as_of, -WINDOW_MONTHS)
    since_24m = add_months(as_of, -2 * WINDOW_MONTHS)
    since_meds = as_of - dt.timedelta(days=MEDICINE_DAYS)
    classes = medicine_classes(record)

    df = record.patients.select(
        "patient_id", age_at(F.col("birth_date"), as_of).alias("age"), "sex", "imd_decile",
        F.ceil(F.col("imd_decile") / 2).cast("int").alias("imd_quintile"), "ethnicity_group")
    df = df.join(eligible(record, as_of, min_age=0).select("patient_id", F.lit(True).alias("_eligible")),
                 "patient_id", "left")
    for name, resolved in LTC.items():
        df = df.join(on_register(record, name, as_of, resolved=resolved, name=f"_ltc_{name}"), "patient_id", "left")
    df = df.join(current_medicines(record, as_of, MEDICINE_DAYS, name="_current_medicines"), "patient_id", "left")
    for c in classes:
        on = issues_in(record, f"med_{c}", as_of, since_meds).select("patient_id").distinct() \
            .withColumn(f"_med_{c}", F.lit(True))
        df = df.join(on, "patient_id", "left")
    df = (df.join(latest_value(record, "egfr", as_of, name="egfr").drop("egfr_date"), "patient_id", "left")
            .join(latest_value(record, "bmi", as_of, name="bmi").drop("bmi_date"), "patient_id", "left")
            .join(care_home.emergency_admissions(record, as_of, since_12m, name="_admissions"), "patient_id", "left")
            .join(care_home.emergency_admissions(record, as_of, since_24m, name="_admissions_24m")
                  .drop("_admissions_24m_last"), "patient_id", "left")
            .join(has_any(record, "frailty_severe", as_of, name="_severe"), "patient_id", "left")
            .join(has_any(record, "frailty_moderate", as_of, name="_moderate"), "patient_id", "left")
            .join(_falls(record, as_of, since_12m), "patient_id", "left")
            .join(care_home.residents(record, as_of, care_home.COHORT.params())
                  .select("patient_id", F.lit(True).alias("_care_home")), "patient_id", "left")
            .join(cha2ds2_vasc(record, as_of).select("patient_id", "cha2ds2_vasc"), "patient_id", "left")
            .join(dlcn(record, as_of, DLCN_DEFAULTS).select("patient_id", "dlcn"), "patient_id", "left"))

    ltc_flags = [_flag(f"_ltc_{name}_date").alias(f"ltc_{name}") for name in LTC]
    ltc_count = sum((_flag(f"_ltc_{name}_date").cast("int") for name in LTC), F.lit(0)).alias("ltc_count")
    out = df.select(
        "patient_id", "age", "sex", "imd_decile", "imd_quintile", "ethnicity_group",
        F.coalesce(F.col("_eligible"), F.lit(False)).alias("alive_registered"),
        *ltc_flags, ltc_count,
        F.coalesce(F.col("_current_medicines"), F.lit(0)).cast("int").alias("current_medicines"),
        *[F.coalesce(F.col(f"_med_{c}"), F.lit(False)).alias(f"med_{c}") for c in classes],
        F.col("egfr").cast("double").alias("egfr"), F.col("bmi").cast("double").alias("bmi"),
        F.coalesce(F.col("_admissions"), F.lit(0)).cast("int").alias("emergency_admissions_12m"),
        F.coalesce(F.col("_admissions_24m"), F.lit(0)).cast("int").alias("emergency_admissions_24m"),
        F.coalesce(F.col("_falls"), F.lit(0)).cast("int").alias("falls_12m"),
        F.coalesce(F.col("_care_home"), F.lit(False)).alias("care_home"),
        F.when(_flag("_severe_date"), "severe").when(_flag("_moderate_date"), "moderate").otherwise("none")
        .alias("frailty_coded"),
        F.col("cha2ds2_vasc").cast("int").alias("cha2ds2_vasc"), F.col("dlcn").cast("int").alias("dlcn"))
    if efi_available():
        from engine.features.efi import efi
        out = out.join(efi(record, as_of).select("patient_id", *EFI_COLUMNS), "patient_id", "left")
    return out


def _falls(record: Record, as_of: dt.date, since: dt.date) -> DataFrame:
    """patient_id, _falls: days with a ``falls`` code in the window (one fall coded twice a day counts once)."""
    return (events_in(record, "falls", as_of, since).groupBy("patient_id")
            .agg(F.countDistinct("date").alias("_falls")))
