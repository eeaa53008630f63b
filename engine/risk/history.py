"""The labelled history a record holds: features one year before ``as_of``, admissions in the year after.

Any record can train the model for its own run: the risk features at the index date
``as_of − 12 months`` (adults registered and alive then) and, as the label, whether an emergency
admission (an encounter flagged emergency, or an emergency-admission code) falls in
(index date, as_of]. Nothing here reads anything but the record: a caller that knows the true
probabilities (the generator's, in ``benchmarks/evaluate_risk.py``) passes them as ``oracle``.
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F

from engine.features import rows as R
from engine.features.facts import patient_facts
from engine.features.patient import risk_features
from engine.features.rows import add_months
from engine.record import Record
from engine.risk.model import TrainResult, train

log = logging.getLogger("casefind")

WINDOW_MONTHS = 12
# Training reads the features into the driver (scikit-learn fits in memory): above this many rows a
# seeded random sample is used, which bounds driver memory on a large population.
MAX_TRAINING_ROWS = 300_000


def training_table(record: Record, as_of: dt.date, seed: int = 0) -> tuple[pd.DataFrame, dt.date]:
    index = add_months(as_of, -WINDOW_MONTHS)
    feats = risk_features(patient_facts(record, index), index).where(F.col("alive_registered") & (F.col("age") >= 18))
    after = lambda d: d > R.lit_date(index)   # noqa: E731
    admitted = patient_facts(record, as_of).select(
        "patient_id", (F.size(F.filter("emergency_admission_days", after)) > 0).cast("int").alias("admitted_12m"))
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


def train_from_record(record: Record, as_of: dt.date, out_dir: Path, seed: int = 0,
                      oracle: pd.DataFrame | None = None, source: str = "") -> TrainResult:
    """Fit on the record's own last year and write the artifact (model + model card) to ``out_dir``.

    ``oracle``: optional, indexed by patient_id, with an ``oracle_probability`` column (and optionally
    ``record_oracle_probability``). When given, training and evaluation keep only the patients it
    covers (a generated population's planted scenario patients have no drawn risk)."""
    pdf, index = training_table(record, as_of, seed)
    if len(pdf) < 50 or pdf["admitted_12m"].nunique() < 2:
        raise ValueError(f"too little labelled history to train a model ({len(pdf)} adults, "
                         f"{int(pdf['admitted_12m'].sum())} with an emergency admission after {index})")
    truth = record_truth = None
    if oracle is not None:
        joined = pdf["patient_id"].map(oracle["oracle_probability"])
        known = joined.notna().to_numpy()
        pdf = pdf[known].reset_index(drop=True)
        truth = pdf["patient_id"].map(oracle["oracle_probability"]).to_numpy(dtype=float)
        if "record_oracle_probability" in oracle:
            record_truth = pdf["patient_id"].map(oracle["record_oracle_probability"]).to_numpy(dtype=float)
    described = (f"{len(pdf)} adults registered on {index.isoformat()}; features as of that date, outcome = an "
                 f"emergency admission from {(index + dt.timedelta(days=1)).isoformat()} to {as_of.isoformat()}"
                 + (f"; source {source}" if source else ""))
    result = train(pdf.drop(columns=["patient_id"]), "admitted_12m", oracle=truth, record_oracle=record_truth,
                   as_of=index, data_description=described, seed=seed, out_dir=out_dir)
    ev = result.card["evaluation"]
    log.info("risk model: %s, held-out AUROC %s, calibration slope %s", result.model.family,
             _r(ev.get("auroc")), _r(ev.get("calibration_slope")))
    return result


def _r(v):
    return "n/a" if v is None else f"{v:.3f}"
