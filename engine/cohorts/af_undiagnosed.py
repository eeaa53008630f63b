"""Possible undiagnosed atrial fibrillation: CLINICAL_RULES §4a (NICE NG196; IIF CVD-04; UCLPartners).

Eligible adults not on the AF register who, in the last 12 months, have an AF signal (ECG AF or
flutter, device-detected AF, irregular pulse), or who were issued an oral anticoagulant in the last
6 months with no recorded indication: no AF code ever (active or resolved, including an AF-resolved
code), and no DVT, PE or valve-replacement code ever. Banded by the strongest signal, in the order
ECG > device > pulse > anticoagulant only; ranked within a band by CHA2DS2-VASc.
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
    "signal_window_months": Param("int", 1, 120),
    "anticoagulant_window_months": Param("int", 1, 120),
}

# af_signals.csv `signal` column (the rows' tag) → band order; a value not listed here is not a signal.
SIGNAL_BAND = {"ecg_af": 1, "ecg_flutter": 1, "device": 2, "irregular_pulse": 3}
SIGNAL_TEXT = {"ecg_af": "ECG showing atrial fibrillation", "ecg_flutter": "ECG showing atrial flutter",
               "device": "Device-detected atrial fibrillation", "irregular_pulse": "Irregular pulse"}
# Codes that explain an anticoagulant: AF ever (active or resolved, or an AF-resolved code), DVT, PE,
# valve replacement.
AF_LISTS = ("af", "af_resolved")
OTHER_INDICATIONS = ("dvt", "pe", "valve_replacement")


def _lookup(values: dict, key: Column) -> Column:
    """``values[key]``, null for a key not listed (a CASE expression: no map lookup to fail under ANSI)."""
    out = None
    for k, v in values.items():
        out = F.when(key == k, F.lit(v)) if out is None else out.when(key == k, F.lit(v))
    return out


def _ever(lists: tuple[str, ...]) -> Column:
    """The latest row, active or resolved, in any of the lists (null when none)."""
    return F.greatest(*[R.last_date(f"ev_{n}", status=None) for n in lists])


def derive(p: dict, as_of: dt.date) -> list[dict[str, Column]]:
    signal_since = add_months(as_of, -p["signal_window_months"])
    oac_since = add_months(as_of, -p["anticoagulant_window_months"])
    signals = F.filter(R.where("ev_af_signals", signal_since),
                       lambda x: _lookup(SIGNAL_BAND, x["tag"]).isNotNull())
    # The strongest signal, then the latest; then code, then source_id (ascending).
    best = R.first_by(signals, lambda x: [_lookup(SIGNAL_BAND, x["tag"]), R.newest_first(x["date"]), x["code"],
                                          x["source_id"]])
    every = F.array_sort(F.array_distinct(F.transform(signals, lambda x: F.struct(
        x["date"].cast("string").alias("date"), x["code"].alias("code"), x["tag"].alias("signal")))))
    # issued in the window: an issue, or a repeat authorisation covering any day of it (§0)
    issues = R.issued("rx_anticoagulant_oral", oac_since)
    last = R.last_taken(issues)
    # issues plus those an authorisation implies; a dual-coded issue counts once
    n_issues = R.issue_count("rx_anticoagulant_oral", oac_since)
    return [
        {"best_signal": best, "signals": F.when(F.size(every) > 0, every),
         "last_issue": last, "anticoagulant_issues": F.when(F.size(issues) > 0, n_issues),
         "af_coded_date": _ever(AF_LISTS), "other_indication_date": _ever(OTHER_INDICATIONS),
         # the worklist shows no text rather than empty text when no component scores
         "cha2ds2_vasc_factors": F.when(F.col("cha2ds2_vasc_factors") != "", F.col("cha2ds2_vasc_factors"))},
        {"signal_band": _lookup(SIGNAL_BAND, F.col("best_signal.tag")), "signal": F.col("best_signal.tag"),
         "signal_code": F.col("best_signal.code"), "signal_date": F.col("best_signal.date"),
         "anticoagulant": F.col("last_issue.term"), "anticoagulant_code": F.col("last_issue.code"),
         "anticoagulant_date": F.col("last_issue.date"),
         "anticoagulant_how": R.taken_text(F.col("last_issue"), as_of)},
    ]


def _has_signal() -> Column:
    return F.col("signal_date").isNotNull()


def _no_indication() -> Column:
    return F.col("af_coded_date").isNull() & F.col("other_indication_date").isNull()


def reason(p: dict, as_of: dt.date) -> Column:
    oac_since = add_months(as_of, -p["anticoagulant_window_months"])
    history = F.when(F.col("af_coded_date").isNotNull(),
                     F.concat(F.lit("not on the AF register (AF last coded "), F.col("af_coded_date").cast("string"),
                              F.lit(", since resolved)"))).otherwise(F.lit("no AF diagnosis"))
    oac_text = F.concat(F.lit("oral anticoagulant "), F.col("anticoagulant"), F.lit(" "), F.col("anticoagulant_how"))
    signal_reason = F.concat(
        _lookup(SIGNAL_TEXT, F.col("signal")), F.lit(" (SNOMED "), F.col("signal_code"), F.lit(") on "),
        F.col("signal_date").cast("string"), F.lit(" ("), F.col("band"), F.lit(")"),
        F.when(F.col("anticoagulant_date").isNotNull(), F.concat(F.lit("; "), oac_text)).otherwise(F.lit("")),
        F.lit("; "), history, F.lit("; "), cha2ds2_text(), F.lit("."))
    oac_reason = F.concat(
        F.lit("Oral anticoagulant "), F.col("anticoagulant"), F.lit(" "), F.col("anticoagulant_how"),
        F.when(F.col("anticoagulant_issues") > 1,
               F.concat(F.lit(" ("), F.col("anticoagulant_issues").cast("string"),
                        F.lit(f" issues since {oac_since.isoformat()})"))).otherwise(F.lit("")),
        F.lit(" with no recorded indication: no AF, DVT, PE or valve-replacement code; "), cha2ds2_text(), F.lit("."))
    return F.when(_has_signal(), signal_reason).otherwise(oac_reason)


def evidence(p: dict, as_of: dt.date) -> list[Column]:
    signal_since = add_months(as_of, -p["signal_window_months"])
    oac_since = add_months(as_of, -p["anticoagulant_window_months"])
    return [
        F.col("signal"), F.col("signal_code"), F.col("signal_date").cast("string").alias("signal_date"),
        F.col("signals"), F.lit(signal_since.isoformat()).alias("signal_window_start"),
        F.col("anticoagulant"), F.col("anticoagulant_code"),
        F.col("anticoagulant_date").cast("string").alias("anticoagulant_date"), F.col("anticoagulant_issues"),
        F.lit(oac_since.isoformat()).alias("anticoagulant_window_start"),
        F.col("af_coded_date").cast("string").alias("af_last_coded"),
        F.col("other_indication_date").cast("string").alias("dvt_pe_valve_last_coded"),
        *cha2ds2_evidence()]


COHORT = Cohort(
    name="af_undiagnosed",
    title="Possible undiagnosed atrial fibrillation",
    section="§4a",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date, not on the AF register, with an AF signal in the "
        "last {signal_window_months} months (an ECG showing atrial fibrillation or flutter, device-detected AF, or an "
        "irregular pulse), or an oral anticoagulant (warfarin, apixaban, rivaroxaban, edoxaban, dabigatran) issued in "
        "the last {anticoagulant_window_months} months with no recorded indication: no AF code ever (active or "
        "resolved) and no DVT, PE or heart-valve-replacement code ever. Bands, strongest signal first: ECG AF or "
        "flutter; device-detected AF; irregular pulse; anticoagulant without recorded indication. Within a band, "
        "the highest CHA2DS2-VASc first. Source: NICE NG196, IIF CVD-04."),
    parameters=PARAMETERS,
    derive=derive,
    criteria=(
        Criterion("not_on_register", "Not on the AF register (no AF code, or the latest AF code resolved)",
                  lambda p: F.col("af_register").isNull()),
        Criterion("signal_or_anticoagulant",
                  "An AF signal (ECG AF or flutter, device-detected AF, irregular pulse) in the last "
                  "{signal_window_months} months, or an oral anticoagulant issued in the last "
                  "{anticoagulant_window_months} months",
                  lambda p: _has_signal() | F.col("anticoagulant_date").isNotNull()),
        Criterion("signal_or_no_indication", "An AF signal, or else no AF, DVT, PE or valve-replacement code ever "
                                             "(an anticoagulant without a recorded indication)",
                  lambda p: _has_signal() | _no_indication()),
    ),
    bands=(
        Band("ECG AF or flutter", lambda p: F.col("signal_band") == 1),
        Band("device-detected AF", lambda p: F.col("signal_band") == 2),
        Band("irregular pulse", lambda p: F.col("signal_band") == 3),
        Band("anticoagulant without recorded indication"),
    ),
    reason=reason,
    evidence=evidence,
    rank=(("cha2ds2_vasc", True),),
    columns=("cha2ds2_vasc", "cha2ds2_vasc_factors", "signal_date", "anticoagulant", "anticoagulant_date"),
)
