"""Train and evaluate the 12-month emergency-admission risk model (CLINICAL_RULES §8).

This is OUR model, trained on labelled history (in the demo: the synthetic generator's). It is not
QAdmissions, which is licensed separately; every artifact says so.

``train`` takes one row per patient (``engine.features.patient.risk_features`` as a pandas frame)
and a 0/1 label per row, and:

1. splits the rows into a training part and a held-out part (stratified on the label, fixed seed);
2. chooses the model family by AUROC on a validation slice of the TRAINING part, so the held-out
   part is never used to choose (the gradient-boosted family must beat the logistic one by more
   than ``margin``, 0.005 by default, to be chosen): a regularised (L2) logistic regression (median imputation with
   missing-value indicators, standard scaling, one-hot categories) or a histogram gradient-boosted
   tree classifier (shallow trees, strong minimum leaf size, one-hot categories, missing values
   handled natively);
3. refits the chosen family on the whole training part and reports, on the held-out part only:
   AUROC, Brier score, calibration slope and intercept (a logistic regression of the label on
   logit(predicted risk): slope 1 and intercept 0 when calibrated), the same by sex, IMD quintile
   and ethnic group, and — when the true probability is known (the generator's oracle) — the
   oracle's AUROC and Brier score on the same rows (and the record oracle's: the generator's best
   probability given what the record holds, its unmeasured term integrated out);
4. writes the artifact folder (``write_artifact``): model.joblib, model_card.json, model_card.md.

Top contributing factors (``top_factors``), the same method for both families: for each feature, the
predicted risk minus the risk with that one feature set to its reference value (the training
median for a number, the most common value for a category, false for a flag); the three largest
positive differences are named with the patient's value. A factor is what raises THIS patient's
risk above what it would be with a typical value — an explanation of the model, not of the cause.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from engine.risk.card import model_card, write_card

# Features the model reads when the frame has them (CLINICAL_RULES §8 "inputs in the spirit of
# QAdmissions"); flags ltc_* / med_* and care_home are added from the frame.
NUMERIC = ("age", "ltc_count", "current_medicines", "egfr", "bmi", "emergency_admissions_12m",
           "emergency_admissions_24m", "falls_12m", "efi")
CATEGORICAL = ("sex", "imd_quintile", "ethnicity_group", "frailty_coded")
NOT_FEATURES = ("ltc_count",)
FAMILIES = ("logistic", "hist_gradient_boosting")
MISSING = "missing"
TOP_FACTORS = 3

LABELS = {
    "age": "age", "ltc_count": "long-term conditions", "current_medicines": "current medicines",
    "egfr": "eGFR", "bmi": "BMI", "emergency_admissions_12m": "emergency admissions (12 months)",
    "emergency_admissions_24m": "emergency admissions (24 months)", "frailty_coded": "frailty coded",
    "falls_12m": "falls (12 months)", "efi": "eFI", "sex": "sex", "imd_quintile": "IMD quintile",
    "ethnicity_group": "ethnic group", "care_home": "care-home resident",
}


def default_features(columns) -> tuple[list[str], list[str]]:
    """(numeric, categorical) model inputs among ``columns``: NUMERIC, then ltc_* / med_* / care_home
    flags (read as 0/1), and CATEGORICAL."""
    cols = list(columns)
    flags = [c for c in cols if (c.startswith("ltc_") or c.startswith("med_") or c == "care_home")
             and c not in NOT_FEATURES]
    numeric = [c for c in NUMERIC if c in cols] + flags
    return numeric, [c for c in CATEGORICAL if c in cols]


def prepare(pdf: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    """The model's input frame: numbers and flags as float (missing → NaN), categories as text
    (missing → "missing"; 3.0 → "3")."""
    out = {}
    for c in numeric:
        out[c] = pd.to_numeric(pdf[c].astype("object").where(pdf[c].notna(), np.nan), errors="coerce").astype(float)
    for c in categorical:
        out[c] = pdf[c].map(_category).astype(object)
    return pd.DataFrame(out, index=pdf.index)


def _category(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return MISSING
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def make_pipeline(family: str, numeric: list[str], categorical: list[str], seed: int = 0) -> Pipeline:
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if family == "logistic":
        columns = ColumnTransformer([
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                                  ("scale", StandardScaler())]), numeric),
            ("categorical", onehot, categorical)])
        model = LogisticRegression(C=1.0, max_iter=2000)
    elif family == "hist_gradient_boosting":
        columns = ColumnTransformer([("numeric", "passthrough", numeric), ("categorical", onehot, categorical)])
        # shallow, heavily regularised trees with early stopping: calibration matters more than the
        # last point of AUROC for a worklist that prints the risk
        model = HistGradientBoostingClassifier(learning_rate=0.05, max_iter=200, max_depth=3, max_leaf_nodes=8,
                                               min_samples_leaf=100, l2_regularization=5.0, early_stopping=True,
                                               validation_fraction=0.2, n_iter_no_change=10, random_state=seed)
    else:
        raise ValueError(f"unknown model family {family!r} (known: {', '.join(FAMILIES)})")
    return Pipeline([("columns", columns), ("model", model)])


def calibration(y, p) -> tuple[float | None, float | None]:
    """(slope, intercept) of a logistic regression of the label on logit(p); (None, None) when the
    label has one class."""
    y = np.asarray(y).astype(int)
    if len(np.unique(y)) < 2:
        return None, None
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    fit = LogisticRegression(C=np.inf, max_iter=1000).fit(np.log(p / (1 - p)).reshape(-1, 1), y)
    return float(fit.coef_[0][0]), float(fit.intercept_[0])


def metrics(y, p, oracle=None, record_oracle=None, min_events: int = 5) -> dict:
    """n, events, AUROC, Brier, calibration slope/intercept (and the oracles' AUROC/Brier: ``oracle_*``
    for the true probability, ``record_oracle_*`` for the best probability the record allows) — the
    discrimination and calibration figures are null when fewer than ``min_events`` patients have
    (or lack) the outcome."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    events = int(y.sum())
    enough = min(events, len(y) - events) >= min_events
    slope, intercept = calibration(y, p) if enough else (None, None)
    out = {"n": int(len(y)), "events": events, "event_rate": float(y.mean()) if len(y) else None,
           "mean_predicted": float(p.mean()) if len(y) else None,
           "auroc": float(roc_auc_score(y, p)) if enough else None,
           "brier": float(brier_score_loss(y, p)) if len(y) else None,
           "calibration_slope": slope, "calibration_intercept": intercept}
    for name, truth in (("oracle", oracle), ("record_oracle", record_oracle)):
        if truth is not None:
            truth = np.asarray(truth, dtype=float)
            out[f"{name}_auroc"] = float(roc_auc_score(y, truth)) if enough else None
            out[f"{name}_brier"] = float(brier_score_loss(y, truth)) if len(y) else None
    return out


@dataclass
class Model:
    """What model.joblib holds: the fitted pipeline and everything needed to score and explain."""
    pipeline: Pipeline
    family: str
    numeric: list[str]
    categorical: list[str]
    reference: dict = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def predict(self, pdf: pd.DataFrame) -> np.ndarray:
        """Predicted 12-month risk for each row of ``pdf`` (a frame holding the feature columns)."""
        return self.pipeline.predict_proba(prepare(pdf, self.numeric, self.categorical))[:, 1]

    def top_factors(self, pdf: pd.DataFrame, k: int = TOP_FACTORS) -> tuple[np.ndarray, list[str]]:
        """(risk, factors text) per row: the ``k`` features whose reference value lowers the risk most.

        "emergency admissions (12 months) 3 (+12.5 points); age 84 (+4.1 points)" — points are
        percentage points of predicted risk. Empty text when no feature raises the risk.
        """
        x = prepare(pdf, self.numeric, self.categorical)
        risk = self.pipeline.predict_proba(x)[:, 1]
        deltas = np.zeros((len(x), len(self.features)))
        for j, c in enumerate(self.features):
            changed = x.copy()
            changed[c] = self.reference[c]
            deltas[:, j] = risk - self.pipeline.predict_proba(changed)[:, 1]
        return risk, self._factor_text(x, deltas, k)

    def _factor_text(self, x: pd.DataFrame, deltas: np.ndarray, k: int) -> list[str]:
        """The text of the ``k`` largest positive deltas per row, built column-wise (no per-row loop)."""
        n = len(x)
        if n == 0:
            return []
        top = np.argsort(-deltas, axis=1, kind="stable")[:, :k]
        rows = np.arange(n)
        labels = np.array([_label(f) for f in self.features], dtype=object)
        values = np.empty((n, len(self.features)), dtype=object)
        for j, f in enumerate(self.features):
            values[:, j] = _values(x[f])
        text = np.full(n, "", dtype=object)
        for rank in range(top.shape[1]):
            j = top[:, rank]
            d = deltas[rows, j]
            part = labels[j] + " " + values[rows, j] + " (+" + np.char.mod("%.1f", 100 * d).astype(object) + " points)"
            keep = d > 0
            sep = np.where(text == "", "", "; ").astype(object)
            text = np.where(keep, text + sep + part, text)
        return list(text)


def _label(feature: str) -> str:
    if feature in LABELS:
        return LABELS[feature]
    for prefix, kind in (("ltc_", "condition: "), ("med_", "on ")):
        if feature.startswith(prefix):
            return kind + feature[len(prefix):].replace("_", " ")
    return feature.replace("_", " ")


def _value(v) -> str:
    if isinstance(v, str):
        return v
    if v is None or math.isnan(v):
        return "not recorded"
    return str(int(v)) if float(v).is_integer() else f"{v:.2f}".rstrip("0").rstrip(".")


def _values(col: pd.Series) -> np.ndarray:
    """``_value`` for a whole column: text as it is, numbers as ``_value`` writes them."""
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        if pd.api.types.is_bool_dtype(col):
            return col.astype(int).astype(str).to_numpy(dtype=object)
        return col.where(col.notna(), "not recorded").astype(str).to_numpy(dtype=object)
    v = col.to_numpy(dtype=float)
    whole = np.isfinite(v) & (np.floor(v) == v)
    out = np.char.rstrip(np.char.rstrip(np.char.mod("%.2f", np.nan_to_num(v)), "0"), ".").astype(object)
    out[whole] = np.char.mod("%d", v[whole].astype(np.int64)).astype(object)
    out[np.isnan(v)] = "not recorded"
    return out


def _reference(x: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict:
    ref = {}
    for c in numeric:
        values = x[c].dropna()
        flag = len(values) and set(values.unique()) <= {0.0, 1.0}
        ref[c] = 0.0 if flag else (float(values.median()) if len(values) else np.nan)
    for c in categorical:
        ref[c] = x[c].mode().iloc[0] if len(x) else MISSING
    return ref


@dataclass
class TrainResult:
    model: Model
    card: dict
    test_index: pd.Index            # the held-out rows (labels of ``features_pdf``)


SUBGROUPS = ("sex", "imd_quintile", "ethnicity_group")


def train(features_pdf: pd.DataFrame, labels, *, oracle=None, record_oracle=None,
          features: tuple[list[str], list[str]] | None = None,
          families: tuple[str, ...] = FAMILIES, margin: float = 0.005, test_size: float = 0.3,
          validation_size: float = 0.25,
          seed: int = 0, as_of=None, data_description: str = "", out_dir: str | Path | None = None) -> TrainResult:
    """Choose, fit and evaluate the model (see the module docstring); write the artifact to ``out_dir``.

    ``labels``: 0/1 per row (array-like, or the name of a column of ``features_pdf``); ``oracle``: the
    true probability per row when known (array-like or column name); ``record_oracle``: the best
    probability the record allows (the generator's, with its unmeasured term integrated out), likewise;
    ``features``: (numeric,
    categorical) inputs, default ``default_features``; ``margin``: a later family in ``families``
    replaces an earlier one only when its validation AUROC is higher by more than this (the simpler
    logistic model wins near-ties: it is better calibrated and easier to explain).
    """
    y = _column(features_pdf, labels).astype(int)
    true_p = None if oracle is None else _column(features_pdf, oracle).astype(float)
    record_p = None if record_oracle is None else _column(features_pdf, record_oracle).astype(float)
    numeric, categorical = features or default_features(
        [c for c in features_pdf.columns if c not in _names(labels, oracle, record_oracle)])
    x = prepare(features_pdf, numeric, categorical)
    idx = np.arange(len(x))
    train_i, test_i = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
    fit_i, val_i = train_test_split(train_i, test_size=validation_size, stratify=y[train_i], random_state=seed)

    selection = {}
    for family in families:
        pipe = make_pipeline(family, numeric, categorical, seed).fit(x.iloc[fit_i], y[fit_i])
        selection[family] = float(roc_auc_score(y[val_i], pipe.predict_proba(x.iloc[val_i])[:, 1]))
    chosen = families[0]
    for family in families[1:]:
        if selection[family] > selection[chosen] + margin:
            chosen = family
    pipe = make_pipeline(chosen, numeric, categorical, seed).fit(x.iloc[train_i], y[train_i])
    model = Model(pipe, chosen, numeric, categorical, _reference(x.iloc[train_i], numeric, categorical))

    p_test = pipe.predict_proba(x.iloc[test_i])[:, 1]
    o_test = None if true_p is None else true_p[test_i]
    r_test = None if record_p is None else record_p[test_i]
    overall = metrics(y[test_i], p_test, o_test, r_test)
    by = {}
    for group in SUBGROUPS:
        if group not in features_pdf.columns:
            continue
        values = features_pdf[group].iloc[test_i].map(_category).to_numpy()
        by[group] = {v: metrics(y[test_i][values == v], p_test[values == v],
                                None if o_test is None else o_test[values == v],
                                None if r_test is None else r_test[values == v])
                     for v in sorted(set(values))}
    card = model_card(model=model, selection=selection, margin=margin, overall=overall, by_group=by, as_of=as_of,
                      data_description=data_description, n_rows=len(x), n_train=len(train_i),
                      n_test=len(test_i), n_validation=len(val_i), seed=seed, event_rate=float(y.mean()))
    result = TrainResult(model, card, features_pdf.index[test_i])
    if out_dir is not None:
        write_artifact(result, out_dir)
    return result


def _names(*cols) -> set:
    return {c for c in cols if isinstance(c, str)}


def _column(pdf: pd.DataFrame, values) -> np.ndarray:
    return pdf[values].to_numpy() if isinstance(values, str) else np.asarray(values)


ARTIFACT_MODEL, ARTIFACT_CARD_JSON, ARTIFACT_CARD_MD = "model.joblib", "model_card.json", "model_card.md"


def write_artifact(result: TrainResult, out_dir: str | Path) -> Path:
    """model.joblib (the Model: pipeline, feature lists, references), model_card.json, model_card.md."""
    import joblib
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(result.model, out / ARTIFACT_MODEL)
    write_card(result.card, out)
    return out


def load_model(artifact_dir: str | Path) -> Model:
    import joblib
    path = Path(artifact_dir) / ARTIFACT_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}: train one first (casefind train)")
    model = joblib.load(path)
    if not isinstance(model, Model):
        raise ValueError(f"{path} does not hold an engine.risk Model")
    return model
