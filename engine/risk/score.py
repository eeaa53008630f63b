"""Score a population inside Spark: the fitted model is broadcast once and applied per partition
with ``mapInPandas``, so patient rows stay on the executors and never pass through the driver."""
from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from engine.risk.model import Model, load_model

SCHEMA = "patient_id string, risk double, top_factors string"


def score(spark: SparkSession, features_df: DataFrame, artifact_dir: str | Path | Model) -> DataFrame:
    """patient_id, risk (predicted 12-month emergency-admission probability), top_factors (text, see
    engine.risk.model.Model.top_factors) for every row of ``features_df``.

    ``artifact_dir``: the folder ``train`` wrote (or an already loaded Model).
    """
    model = artifact_dir if isinstance(artifact_dir, Model) else load_model(artifact_dir)
    missing = [c for c in model.features if c not in features_df.columns]
    if missing:
        raise ValueError(f"features_df lacks the model's input column(s): {', '.join(missing)}")
    shared = spark.sparkContext.broadcast(model)

    def apply(batches):
        import pandas as pd
        m = shared.value
        for pdf in batches:
            if len(pdf) == 0:
                continue
            risk, factors = m.top_factors(pdf)
            yield pd.DataFrame({"patient_id": pdf["patient_id"].astype(str), "risk": risk, "top_factors": factors})

    # One task, rows in patient-id order: the last bits of a predicted probability depend on where the
    # row sits in the batch BLAS sees, so a fixed order makes a risk depend on the patient alone, not
    # on the order the input files held the records in (the three layouts give identical worklists).
    # Only the listed candidates are scored (hundreds per PCN), so one task is no bottleneck.
    ordered = features_df.select("patient_id", *model.features).repartition(1).sortWithinPartitions("patient_id")
    return ordered.mapInPandas(apply, SCHEMA)
