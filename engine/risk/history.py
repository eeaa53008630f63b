"""The labelled history a record holds: features one year before ``as_of``, admissions in the year after.

Any record can train the model for its own run: the patient features at the index date
``as_of − 12 months`` (adults registered and alive then) and, as the label, whether an emergency
admission (an encounter flagged emergency, or an emergency-admission code) falls in
(index date, as_of]. When the input folder carries the generator's ``risk_truth.csv``, its true
probabilities ride along as the oracle the model card compares against.
"""
from __future__ import annotations

import csv
import datetime as dt
import logging
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F

from engine.cohorts.care_home import emergency_admissions
from engine.features.patient import patient_features
from engine.query import add_months
from engine.record import Record
from engine.risk.model import TrainResult, train

log = logging.getLogger("casefind")

WINDOW_MONTHS = 12
# Training reads the features into the driver (scikit-learn fits in memory): above this many rows a
# seeded random sample is used, which bounds driver memory on a large population.
MAX_TRAINING_ROWS = 300_000


def training_table(record: Record, as_of: dt.date, seed: int = 0) -> tuple[pd.DataFrame, dt.date]:
    index = add_months(as_of, -WINDOW_MONTHS)
    feats = patient_features(record, index).where(F.col("alive_registered") & (F.col("age") >= 18))
    admitted = (emergency_admissions(record, as_of, index + dt.timedelta(days=1), name="_outcome")
                .select("patient_id", F.lit(1).alias("admitted_12m")))
    table = feats.join(admitted, "patient_id", "left").withColumn(
        "admitted_12m", F.coalesce(F.col("admitted_12m"), F.lit(0))).cache()
    try:
        n = table.count()     # the cache keeps the features from being computed a second time below
        sample = table.sample(fraction=MAX_TRAINING_ROWS / n, seed=seed) if n > MAX_TRAINING_ROWS else table
        # Spark returns rows in no fixed order: sort so the same input always trains the same model.
        pdf = sample.toPandas().sort_values("patient_id").reset_index(drop=True)
    finally:
        table.unpersist()
    return pdf, index


ORACLES = ("oracle_probability", "record_oracle_probability")


def _oracles(input_path: Path | None, pdf: pd.DataFrame) -> pd.DataFrame | None:
    """The generator's probabilities per row, one column per ``ORACLES`` name it wrote (NaN for a
    patient it has none for), or None without a truth file."""
    path = input_path / "risk_truth.csv" if input_path and input_path.is_dir() else None
    if not path or not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    names = [n for n in ORACLES if rows and n in rows[0]]
    return pd.DataFrame({n: pdf["patient_id"].map({r["patient_id"]: float(r[n]) for r in rows}) for n in names},
                        index=pdf.index)


def train_from_record(record: Record, as_of: dt.date, out_dir: Path, input_path: Path | None = None,
                      seed: int = 0) -> TrainResult:
    """Fit on the record's own last year and write the artifact (model + model card) to ``out_dir``."""
    pdf, index = training_table(record, as_of, seed)
    if len(pdf) < 50 or pdf["admitted_12m"].nunique() < 2:
        raise ValueError(f"too little labelled history to train a model ({len(pdf)} adults, "
                         f"{int(pdf['admitted_12m'].sum())} with an emergency admission after {index})")
    oracle = record_oracle = None
    truth = _oracles(input_path, pdf)
    if truth is not None and "oracle_probability" in truth:
        # A generated population: its planted scenario patients have no latent risk (their histories
        # are written to a rule, not drawn), so the model learns from, and is compared with the oracle
        # on, the patients whose admissions were drawn from it.
        known = truth["oracle_probability"].notna().to_numpy()
        pdf, truth = pdf[known].reset_index(drop=True), truth[known].reset_index(drop=True)
        oracle = truth["oracle_probability"].to_numpy()
        if "record_oracle_probability" in truth:
            record_oracle = truth["record_oracle_probability"].to_numpy()
    described = (f"{len(pdf)} adults registered on {index.isoformat()}; features as of that date, outcome = an "
                 f"emergency admission from {(index + dt.timedelta(days=1)).isoformat()} to {as_of.isoformat()}"
                 + (f"; source {input_path}" if input_path else ""))
    result = train(pdf.drop(columns=["patient_id"]), "admitted_12m", oracle=oracle, record_oracle=record_oracle,
                   as_of=index, data_description=described, seed=seed, out_dir=out_dir)
    ev = result.card["evaluation"]
    log.info("risk model: %s, held-out AUROC %s (best from the record %s, oracle %s), calibration slope %s",
             result.model.family, _r(ev.get("auroc")), _r(ev.get("record_oracle_auroc")), _r(ev.get("oracle_auroc")),
             _r(ev.get("calibration_slope")))
    return result


def _r(v):
    return "n/a" if v is None else f"{v:.3f}"
