"""The admission-risk model's inputs: one row per patient, read from the patient facts.

Every column is a fact (``engine.features.facts``) or a window over one, so a feature here means the
same as in a worklist rule (CLINICAL_RULES §0, §8):

- demographics: ``age``, ``sex``, ``imd_decile``, ``imd_quintile``, ``ethnicity_group``,
  ``alive_registered``.
- long-term conditions: ``ltc_<name>`` for each of ``LTC`` (on the register) and ``ltc_count``.
- medicines: ``current_medicines`` (distinct medicines issued in the last ``MEDICINE_DAYS`` days)
  and ``med_<class>`` for every medicine class with a codelist: an issue in those days.
- latest values ever: ``egfr``, ``bmi`` (null when none is recorded).
- ``emergency_admissions_12m`` / ``_24m`` (days with an emergency admission) and ``falls_12m``
  (days with an active ``falls`` code) in the last 12 / 24 months; ``care_home`` (resident).
- ``frailty_coded`` (severe / moderate / none), ``cha2ds2_vasc``, ``dlcn``, and the eFI columns
  ``efi``, ``efi_deficits``, ``efi_band``, ``efi_deficit_list``.

Counts and flags are never null; ``egfr``, ``bmi``, ``imd_*``, ``ethnicity_group`` and ``sex`` are
null when the record does not hold them.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from engine.features import rows as R
from engine.features.facts import medicine_classes as facts_medicine_classes
from engine.features.rows import add_months

LTC = ("hypertension", "diabetes", "chd", "stroke_tia", "pad", "heart_failure", "af", "asthma")
MEDICINE_DAYS = 90
WINDOW_MONTHS = 12
EFI_COLUMNS = ["efi", "efi_deficits", "efi_band", "efi_deficit_list"]


def medicine_classes(facts: DataFrame | None = None) -> list[str]:
    """The medicine classes with a codelist, sorted: ``anticoagulant_oral``, ..."""
    return facts_medicine_classes()


def feature_columns(facts: DataFrame) -> list[str]:
    """The columns ``risk_features`` returns before the eFI columns, in order."""
    return ["patient_id", "age", "sex", "imd_decile", "imd_quintile", "ethnicity_group", "alive_registered",
            *[f"ltc_{name}" for name in LTC], "ltc_count", "current_medicines",
            *[f"med_{c}" for c in medicine_classes(facts)],
            "egfr", "bmi", "emergency_admissions_12m", "emergency_admissions_24m", "falls_12m", "care_home",
            "frailty_coded", "cha2ds2_vasc", "dlcn"]


def feature_exprs(as_of: dt.date, classes: list[str]) -> dict:
    """name → column over the facts row, for every feature (the one definition the model and the
    anticipatory-care rule share)."""
    since_12m, since_24m = add_months(as_of, -WINDOW_MONTHS), add_months(as_of, -2 * WINDOW_MONTHS)
    on = {name: F.col(f"{name}_register").isNotNull() for name in LTC}
    falls = F.size(F.array_distinct(F.transform(R.where("ev_falls", since_12m), lambda x: x["date"])))
    return {
        **{c: F.col(c) for c in ("patient_id", "age", "sex", "imd_decile", "imd_quintile", "ethnicity_group",
                                 "alive_registered")},
        **{f"ltc_{name}": flag for name, flag in on.items()},
        "ltc_count": sum((flag.cast("int") for flag in on.values()), F.lit(0)),
        # currently on (CLINICAL_RULES §0): an issue in the last 90 days or an authorisation covering the run date
        "current_medicines": R.current_medicines(as_of, MEDICINE_DAYS).cast("int"),
        **{f"med_{c}": F.size(R.current(f"rx_{c}", as_of, MEDICINE_DAYS)) > 0 for c in classes},
        "egfr": F.col("egfr").cast("double"), "bmi": F.col("bmi").cast("double"),
        "emergency_admissions_12m": F.size(R.days("emergency_admission_days", since_12m)).cast("int"),
        "emergency_admissions_24m": F.size(R.days("emergency_admission_days", since_24m)).cast("int"),
        "falls_12m": falls.cast("int"),
        "care_home": F.col("care_home"), "frailty_coded": F.col("frailty_coded"),
        "cha2ds2_vasc": F.col("cha2ds2_vasc").cast("int"), "dlcn": F.col("dlcn").cast("int"),
        **{c: F.col(c) for c in EFI_COLUMNS},
    }


def risk_features(facts: DataFrame, as_of: dt.date) -> DataFrame:
    """One row per row of ``facts`` (built as of ``as_of``): the columns ``feature_columns`` names, then the eFI's."""
    exprs = feature_exprs(as_of, medicine_classes(facts))
    return facts.select(*[exprs[c].alias(c) for c in [*feature_columns(facts), *EFI_COLUMNS]])
