"""Possible undiagnosed atrial fibrillation: CLINICAL_RULES §4a (NICE NG196; IIF CVD-04; UCLPartners).

Eligible adults not on the AF register who, in the last 12 months, have an AF signal (ECG AF or
flutter, device-detected AF, irregular pulse), or who were issued an oral anticoagulant in the last
6 months with no recorded indication: no AF code ever (active or resolved, including an AF-resolved
code), and no DVT, PE or valve-replacement code ever. Banded by the strongest signal, in the order
ECG > device > pulse > anticoagulant only; ranked within a band by CHA2DS2-VASc.
"""
from __future__ import annotations

import datetime as dt
from itertools import chain

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from engine.cohorts.base import Cohort, Rule
from engine.features.cha2ds2_vasc import cha2ds2_vasc, evidence_fields, ever, score_text
from engine.query import add_months, eligible, events_in, issues_in, latest, on_register
from engine.record import Record

DEFAULTS = {
    "min_age": 18,
    "signal_window_months": 12,
    "anticoagulant_window_months": 6,
}

BANDS = ("ECG AF or flutter", "device-detected AF", "irregular pulse", "anticoagulant without recorded indication")
# af_signals.csv `signal` column → band_order; a value not listed here is not a signal.
SIGNAL_BAND = {"ecg_af": 1, "ecg_flutter": 1, "device": 2, "irregular_pulse": 3}
SIGNAL_TEXT = {"ecg_af": "ECG showing atrial fibrillation", "ecg_flutter": "ECG showing atrial flutter",
               "device": "Device-detected atrial fibrillation", "irregular_pulse": "Irregular pulse"}
OTHER_INDICATIONS = ("dvt", "pe", "valve_replacement")


def _mapping(values: dict) -> F.Column:
    return F.create_map(*chain.from_iterable((F.lit(k), F.lit(v)) for k, v in values.items()))


def _signals(record: Record, as_of: dt.date, since: dt.date) -> DataFrame:
    """patient_id, the strongest (then latest) signal in the window, and every signal as evidence."""
    rows = (events_in(record, "af_signals", as_of, since, extra=("signal",))
            .withColumn("signal_band", _mapping(SIGNAL_BAND)[F.col("signal")])
            .where(F.col("signal_band").isNotNull()))
    w = Window.partitionBy("patient_id").orderBy(F.col("signal_band"), F.col("date").desc(), F.col("code"),
                                                 F.col("source_id"))
    best = (rows.withColumn("_n", F.row_number().over(w)).where("_n = 1")
            .select("patient_id", "signal_band", "signal", F.col("code").alias("signal_code"),
                    F.col("date").alias("signal_date")))
    every = rows.groupBy("patient_id").agg(F.array_sort(F.collect_set(F.struct(
        F.col("date").cast("string").alias("date"), "code", "signal"))).alias("signals"))
    return best.join(every, "patient_id")


def _anticoagulant(record: Record, as_of: dt.date, since: dt.date) -> DataFrame:
    """patient_id, the latest oral anticoagulant issue in the window and the number of issues."""
    rows = issues_in(record, "med_anticoagulant_oral", as_of, since, extra=("term", "drug"))
    count = rows.groupBy("patient_id").agg(F.countDistinct("source_id").alias("anticoagulant_issues"))
    last = latest(rows).select("patient_id", F.col("term").alias("anticoagulant"), F.col("drug"),
                               F.col("code").alias("anticoagulant_code"), F.col("date").alias("anticoagulant_date"))
    return last.join(count, "patient_id")


def find(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    signal_since = add_months(as_of, -p["signal_window_months"])
    oac_since = add_months(as_of, -p["anticoagulant_window_months"])
    df = (eligible(record, as_of, p["min_age"]).select("patient_id")
          .join(on_register(record, "af", as_of, resolved="af_resolved", name="register"), "patient_id", "left")
          .join(ever(record, ("af", "af_resolved"), as_of, "af_coded"), "patient_id", "left")
          .join(ever(record, OTHER_INDICATIONS, as_of, "other_indication"), "patient_id", "left")
          .join(_signals(record, as_of, signal_since), "patient_id", "left")
          .join(_anticoagulant(record, as_of, oac_since), "patient_id", "left")
          .join(cha2ds2_vasc(record, as_of), "patient_id", "left"))

    has_signal = F.col("signal_date").isNotNull()
    no_indication = F.col("af_coded_date").isNull() & F.col("other_indication_date").isNull()
    df = (df.withColumn("band_order", F.when(has_signal, F.col("signal_band"))
                        .when(F.col("anticoagulant_date").isNotNull() & no_indication, F.lit(4)))
            .withColumn("band", F.element_at(F.array(*map(F.lit, BANDS)), F.col("band_order"))))

    history = F.when(F.col("af_coded_date").isNotNull(),
                     F.concat(F.lit("not on the AF register (AF last coded "), F.col("af_coded_date").cast("string"),
                              F.lit(", since resolved)"))).otherwise(F.lit("no AF diagnosis"))
    oac_text = F.concat(F.lit("oral anticoagulant "), F.col("anticoagulant"), F.lit(" issued on "),
                        F.col("anticoagulant_date").cast("string"))
    signal_reason = F.concat(
        _mapping(SIGNAL_TEXT)[F.col("signal")], F.lit(" (SNOMED "), F.col("signal_code"), F.lit(") on "),
        F.col("signal_date").cast("string"), F.lit(" ("), F.col("band"), F.lit(")"),
        F.when(F.col("anticoagulant_date").isNotNull(), F.concat(F.lit("; "), oac_text)).otherwise(F.lit("")),
        F.lit("; "), history, F.lit("; "), score_text(), F.lit("."))
    oac_reason = F.concat(
        F.lit("Oral anticoagulant "), F.col("anticoagulant"),
        F.lit(" issued on "), F.col("anticoagulant_date").cast("string"),
        F.when(F.col("anticoagulant_issues") > 1,
               F.concat(F.lit(" ("), F.col("anticoagulant_issues").cast("string"),
                        F.lit(f" issues since {oac_since.isoformat()})"))).otherwise(F.lit("")),
        F.lit(" with no recorded indication: no AF, DVT, PE or valve-replacement code; "), score_text(), F.lit("."))
    evidence = F.to_json(F.struct(
        F.col("signal"), F.col("signal_code"), F.col("signal_date").cast("string").alias("signal_date"),
        F.col("signals"), F.lit(signal_since.isoformat()).alias("signal_window_start"),
        F.col("anticoagulant"), F.col("anticoagulant_code"),
        F.col("anticoagulant_date").cast("string").alias("anticoagulant_date"), F.col("anticoagulant_issues"),
        F.lit(oac_since.isoformat()).alias("anticoagulant_window_start"),
        F.col("af_coded_date").cast("string").alias("af_last_coded"),
        F.col("other_indication_date").cast("string").alias("dvt_pe_valve_last_coded"),
        *evidence_fields()))
    member = F.col("band_order").isNotNull()

    return df.select(
        "patient_id",
        F.col("register_date").isNull().alias("not_on_register"),
        (has_signal | F.col("anticoagulant_date").isNotNull()).alias("signal_or_anticoagulant"),
        (has_signal | no_indication).alias("signal_or_no_indication"),
        "band", "band_order",
        F.when(member, F.when(has_signal, signal_reason).otherwise(oac_reason)).alias("reason"),
        F.when(member, evidence).alias("evidence"),
        "cha2ds2_vasc", F.when(F.col("cha2ds2_vasc_factors") != "", F.col("cha2ds2_vasc_factors"))
        .alias("cha2ds2_vasc_factors"),
        "signal_date", "anticoagulant", "anticoagulant_date")


COHORT = Cohort(
    name="af_undiagnosed",
    title="Possible undiagnosed atrial fibrillation",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date, not on the AF register, with an AF signal in the "
        "last {signal_window_months} months (an ECG showing atrial fibrillation or flutter, device-detected AF, or an "
        "irregular pulse), or an oral anticoagulant (warfarin, apixaban, rivaroxaban, edoxaban, dabigatran) issued in "
        "the last {anticoagulant_window_months} months with no recorded indication: no AF code ever (active or "
        "resolved) and no DVT, PE or heart-valve-replacement code ever. Bands, strongest signal first: ECG AF or "
        "flutter; device-detected AF; irregular pulse; anticoagulant without recorded indication. Within a band, "
        "the highest CHA2DS2-VASc first. Source: NICE NG196, IIF CVD-04."),
    defaults=DEFAULTS,
    rules=(
        Rule("not_on_register", "Not on the AF register (no AF code, or the latest AF code resolved)"),
        Rule("signal_or_anticoagulant", "An AF signal (ECG AF or flutter, device-detected AF, irregular pulse) in the "
                                        "last {signal_window_months} months, or an oral anticoagulant issued in the "
                                        "last {anticoagulant_window_months} months"),
        Rule("signal_or_no_indication", "An AF signal, or else no AF, DVT, PE or valve-replacement code ever "
                                        "(an anticoagulant without a recorded indication)"),
    ),
    find=find,
    rank=(("cha2ds2_vasc", True),),
    columns=("cha2ds2_vasc", "cha2ds2_vasc_factors", "signal_date", "anticoagulant", "anticoagulant_date"),
)
