"""The risk model on a labelled table drawn from a KNOWN logistic function: it must get close to the
oracle (the true probability), be calibrated on held-out rows, write a model card that says it is not
QAdmissions, round-trip through its artifact, and score the same inside Spark as in pandas."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from engine.risk import load_model, read_card, score, train
from engine.risk.card import CARD_KEYS
from engine.risk.model import calibration, default_features, metrics

N = 5000
SEED = 20260331


def synthetic_table(n: int = N, seed: int = SEED) -> pd.DataFrame:
    """Feature rows shaped like risk_features, a true probability from a logistic function of them,
    and a label drawn from it."""
    rng = np.random.default_rng(seed)
    age = rng.integers(40, 95, n)
    sex = rng.choice(["female", "male"], n)
    decile = rng.integers(1, 11, n).astype(float)
    decile[rng.random(n) < 0.03] = np.nan
    quintile = np.ceil(decile / 2)
    ethnicity = rng.choice(["White", "Asian", "Black", "Mixed", "Other", None], n, p=[.7, .12, .08, .04, .03, .03])
    ltc = {name: rng.random(n) < share for name, share in
           (("hypertension", .35), ("diabetes", .15), ("heart_failure", .06), ("chd", .1), ("af", .08))}
    admissions = rng.poisson(0.3, n)
    falls = rng.poisson(0.15, n)
    medicines = rng.poisson(4, n)
    egfr = rng.normal(75, 18, n).clip(8, 120)
    egfr[rng.random(n) < 0.2] = np.nan
    care_home = rng.random(n) < 0.04
    logit = (-2.2 + 0.05 * (age - 65) + 0.25 * (sex == "male") + 0.12 * (3 - np.nan_to_num(quintile, nan=3))
             + 0.6 * ltc["heart_failure"] + 0.35 * ltc["diabetes"] + 0.3 * ltc["chd"] + 0.25 * ltc["af"]
             + 0.55 * admissions + 0.35 * falls + 0.06 * medicines + 0.7 * care_home
             - 0.012 * (np.nan_to_num(egfr, nan=75) - 75))
    oracle = 1 / (1 + np.exp(-logit))
    pdf = pd.DataFrame({
        "patient_id": [f"p{i:05d}" for i in range(n)], "age": age, "sex": sex, "imd_decile": decile,
        "imd_quintile": quintile, "ethnicity_group": ethnicity,
        **{f"ltc_{k}": v for k, v in ltc.items()},
        "ltc_count": sum(v.astype(int) for v in ltc.values()), "current_medicines": medicines,
        "egfr": egfr, "emergency_admissions_12m": admissions, "falls_12m": falls, "care_home": care_home,
        "oracle_probability": oracle, "admitted_12m": (rng.random(n) < oracle).astype(int)})
    return pdf


@pytest.fixture(scope="module")
def table():
    return synthetic_table()


@pytest.fixture(scope="module")
def trained(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("risk_artifact")
    result = train(table, "admitted_12m", oracle="oracle_probability", as_of=dt.date(2026, 3, 31),
                   data_description="synthetic table from a known logistic function", out_dir=out)
    return result, out


def test_default_features_skip_labels_ids_and_counts_of_flags(table):
    numeric, categorical = default_features(table.columns.drop(["admitted_12m", "oracle_probability"]))
    assert "patient_id" not in numeric and "imd_decile" not in numeric
    assert {"age", "ltc_count", "ltc_diabetes", "care_home", "egfr", "emergency_admissions_12m"} <= set(numeric)
    assert categorical == ["sex", "imd_quintile", "ethnicity_group"]


def test_close_to_oracle_and_calibrated_on_held_out_rows(trained):
    ev = trained[0].card["evaluation"]
    print(f"\nheld-out AUROC {ev['auroc']:.4f}, oracle {ev['oracle_auroc']:.4f}, Brier {ev['brier']:.4f} "
          f"(oracle {ev['oracle_brier']:.4f}), slope {ev['calibration_slope']:.3f}, "
          f"intercept {ev['calibration_intercept']:.3f}, family {trained[0].model.family}")
    assert ev["n"] == round(N * 0.3)
    assert abs(ev["auroc"] - ev["oracle_auroc"]) <= 0.03
    assert 0.85 <= ev["calibration_slope"] <= 1.15
    assert abs(ev["calibration_intercept"]) <= 0.3
    assert ev["brier"] <= ev["oracle_brier"] + 0.01


def test_family_chosen_by_validation_auroc(trained):
    result = trained[0]
    selection = result.card["family_selection"]["validation_auroc"]
    assert set(selection) == {"logistic", "hist_gradient_boosting"}
    better = selection["hist_gradient_boosting"] > selection["logistic"] + 0.005
    assert result.model.family == ("hist_gradient_boosting" if better else "logistic")


def test_by_group_figures(trained, table):
    by = trained[0].card["by_group"]
    assert set(by) == {"sex", "imd_quintile", "ethnicity_group"}
    assert set(by["sex"]) == {"female", "male"}
    assert set(by["imd_quintile"]) == {"1", "2", "3", "4", "5", "missing"}
    assert "missing" in by["ethnicity_group"] and "White" in by["ethnicity_group"]
    assert sum(m["n"] for m in by["sex"].values()) == trained[0].card["evaluation"]["n"]
    for m in by["sex"].values():
        assert 0.5 < m["auroc"] < 1 and m["oracle_auroc"] is not None and m["calibration_slope"] is not None


def test_model_card_json_and_markdown(trained):
    result, out = trained
    card = json.loads((out / "model_card.json").read_text())
    assert tuple(card) == CARD_KEYS
    assert card == read_card(out)
    assert "NOT QAdmissions" in card["not_qadmissions"] and "licensed separately" in card["not_qadmissions"]
    assert card["data"]["as_of"] == "2026-03-31" and card["data"]["held_out_rows"] == round(N * 0.3)
    assert {"auroc", "brier", "calibration_slope", "calibration_intercept", "oracle_auroc"} <= set(card["evaluation"])
    md = (out / "model_card.md").read_text()
    assert "NOT QAdmissions" in md and "licensed separately" in md
    assert f"| AUROC | {card['evaluation']['auroc']:.3f} | {card['evaluation']['oracle_auroc']:.3f} |" in md
    assert "### By Sex" in md and "### By IMD quintile" in md and "### By Ethnic group" in md


def test_artifact_round_trip(trained, table):
    result, out = trained
    loaded = load_model(out)
    assert loaded.features == result.model.features and loaded.family == result.model.family
    rows = table.head(200)
    assert np.allclose(loaded.predict(rows), result.model.predict(rows))


def test_missing_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train one first"):
        load_model(tmp_path)


def test_top_factors_name_what_raises_the_risk(trained, table):
    model = trained[0].model
    risk, factors = model.top_factors(table.head(300))
    assert len(factors) == 300 and np.allclose(risk, model.predict(table.head(300)))
    assert all(f.count(";") <= 2 for f in factors)
    heavy = table.head(300).copy()
    heavy.loc[:, "emergency_admissions_12m"] = 4
    _, heavy_factors = model.top_factors(heavy)
    assert all(f.startswith("emergency admissions (12 months) 4 (+") for f in heavy_factors)
    typical = table.head(1).copy()
    for c in model.numeric:
        typical[c] = model.reference[c]
    for c in model.categorical:
        typical[c] = model.reference[c]
    assert model.top_factors(typical)[1] == [""]


def test_calibration_of_the_truth_is_one():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.02, 0.6, 20000)
    y = (rng.random(20000) < p).astype(int)
    slope, intercept = calibration(y, p)
    assert abs(slope - 1) < 0.08 and abs(intercept) < 0.1
    assert metrics(np.zeros(10), np.full(10, 0.1))["auroc"] is None     # too few events: no AUROC


def test_spark_scoring_equals_pandas(spark, trained, table):
    result, out = trained
    rows = table.head(500)
    features_df = spark.createDataFrame(rows.drop(columns=["admitted_12m", "oracle_probability"]).astype(
        {"care_home": bool, **{c: bool for c in rows.columns if c.startswith("ltc_") and c != "ltc_count"}}))
    scored = score(spark, features_df.repartition(3), out).toPandas().set_index("patient_id").loc[rows["patient_id"]]
    risk, factors = result.model.top_factors(rows)
    assert np.allclose(scored["risk"].to_numpy(), risk, atol=1e-12)
    assert scored["top_factors"].tolist() == factors
    assert np.allclose(risk, result.model.pipeline.predict_proba(
        __import__("engine.risk.model", fromlist=["prepare"]).prepare(rows, result.model.numeric,
                                                                      result.model.categorical))[:, 1])


def test_spark_scoring_needs_the_model_inputs(spark, trained, table):
    df = spark.createDataFrame(table.head(5)[["patient_id", "age"]])
    with pytest.raises(ValueError, match="lacks the model's input"):
        score(spark, df, trained[1])


def test_scores_a_risk_features_frame(spark, trained):
    """The model's inputs are risk_features columns: scoring that frame inside Spark gives what
    pandas gives for the same rows (Spark types — booleans, nullable ints — arrive intact)."""
    from builders import AS_OF, DIABETES, Population
    from engine.features.facts import build
    from engine.features.patient import risk_features
    p = Population()
    p.patient("old", age=88, sex="male")
    p.diagnosis("old", DIABETES, dt.date(2015, 1, 1))
    p.encounter("old", AS_OF - dt.timedelta(days=30), klass="emergency")
    p.patient("young", age=41)
    p.rows["patients"][-1]["imd_decile"] = None
    features = risk_features(build(p.record(spark), AS_OF), AS_OF)
    scored = {r["patient_id"]: r for r in score(spark, features, trained[1]).collect()}
    local = features.toPandas()
    expected_risk, expected_factors = trained[0].model.top_factors(local)
    assert set(scored) == {"old", "young"}
    assert [scored[pid]["risk"] for pid in local["patient_id"]] == pytest.approx(list(expected_risk))
    assert [scored[pid]["top_factors"] for pid in local["patient_id"]] == expected_factors
    assert scored["old"]["risk"] > scored["young"]["risk"]
    assert "emergency admissions (12 months) 1" in scored["old"]["top_factors"]


def test_boosting_chosen_when_the_truth_is_not_linear():
    """An interaction a linear model cannot express: boosting wins on validation AUROC and is chosen,
    and its top factors use the same reference-value method."""
    rng = np.random.default_rng(7)
    n = 3000
    pdf = pd.DataFrame({"patient_id": [f"q{i}" for i in range(n)], "age": rng.integers(40, 95, n),
                        "emergency_admissions_12m": rng.poisson(0.5, n), "sex": rng.choice(["female", "male"], n)})
    logit = np.where((pdf["age"] >= 80) & (pdf["emergency_admissions_12m"] >= 1), 1.5, -2.5) \
        + np.where((pdf["age"] < 55) & (pdf["emergency_admissions_12m"] == 0), 1.0, 0.0)
    truth = 1 / (1 + np.exp(-logit))
    result = train(pdf, (rng.random(n) < truth).astype(int), oracle=truth)
    selection = result.card["family_selection"]["validation_auroc"]
    assert result.model.family == "hist_gradient_boosting", selection
    assert abs(result.card["evaluation"]["auroc"] - result.card["evaluation"]["oracle_auroc"]) <= 0.03
    old_admitted = pdf[(pdf["age"] >= 85) & (pdf["emergency_admissions_12m"] >= 2)].head(20)
    _, factors = result.model.top_factors(old_admitted)
    assert all("emergency admissions (12 months)" in f and "age" in f for f in factors)


def test_record_oracle_is_reported_beside_the_oracle_and_never_read_as_a_feature(table, tmp_path):
    # a "best from the record" that is the oracle blurred by noise: its AUROC sits below the oracle's
    rng = np.random.default_rng(3)
    logit = np.log(table["oracle_probability"] / (1 - table["oracle_probability"]))
    blurred = table.assign(record_oracle_probability=1 / (1 + np.exp(-(logit + rng.normal(0, 0.8, len(table))))))
    result = train(blurred, "admitted_12m", oracle="oracle_probability", record_oracle="record_oracle_probability",
                   out_dir=tmp_path)
    assert "record_oracle_probability" not in result.model.features
    ev = result.card["evaluation"]
    assert ev["record_oracle_auroc"] < ev["oracle_auroc"] and ev["record_oracle_brier"] > ev["oracle_brier"]
    assert all("record_oracle_auroc" in m for rows in result.card["by_group"].values() for m in rows.values())
    md = (tmp_path / "model_card.md").read_text()
    assert "| measure | ours | best from the record | oracle (true probability) |" in md
    assert (f"| AUROC | {ev['auroc']:.3f} | {ev['record_oracle_auroc']:.3f} | {ev['oracle_auroc']:.3f} |") in md


def test_card_names_the_feature_date_once(table, tmp_path):
    train(table, "admitted_12m", oracle="oracle_probability", as_of=dt.date(2026, 3, 31), out_dir=tmp_path / "a",
          data_description="adults registered on 2026-03-31; features as of that date")
    train(table, "admitted_12m", as_of=dt.date(2026, 3, 31), out_dir=tmp_path / "b", data_description="a table")
    assert (tmp_path / "a" / "model_card.md").read_text().count("2026-03-31") == 1
    assert "- a table, features as of 2026-03-31" in (tmp_path / "b" / "model_card.md").read_text()


def test_factor_text_equals_a_row_by_row_statement(trained, table):
    """The column-wise factor text says exactly what a plain per-row loop says (three largest
    positive risk differences, each with the patient's value), for every row."""
    from engine.risk.model import _label, _value, prepare
    model = trained[0].model
    rows = table.head(20)
    x = prepare(rows, model.numeric, model.categorical)
    risk, texts = model.top_factors(rows)
    # the risk differences as one batch per feature (what scoring computes); the text row by row
    delta = np.column_stack([risk - model.pipeline.predict_proba(x.assign(**{f: model.reference[f]}))[:, 1]
                             for f in model.features])
    for i in range(len(x)):
        deltas = delta[i]
        order = [j for j in np.argsort(-deltas, kind="stable")[:3] if deltas[j] > 0]
        expected = "; ".join(f"{_label(model.features[j])} {_value(x.iloc[i][model.features[j]])} "
                             f"(+{100 * deltas[j]:.1f} points)" for j in order)
        assert texts[i] == expected, i
