"""Labelled history in the generator: emergency admissions drawn from the documented latent risk
(synthetic_data/admissions.py), risk_truth.csv (the oracle) and the records agreeing with it."""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from synthetic_data import admissions as A
from synthetic_data import generate
from synthetic_data.chart import Chart
from synthetic_data.cohorts.common import Rows
from synthetic_data.organisations import Plan
from synthetic_data.people import add_months, age_on
from synthetic_data.population import place_scenarios
from synthetic_data.vocab import ENC_EMERGENCY, Vocab

N, SEED = 5000, 11          # one chunk; about 3,500 patients in the training population
AS_OF = dt.date(2026, 3, 31)
INDEX = dt.date(2025, 3, 31)


def _csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("adm") / "gp"
    generate(path, N, seed=SEED, fmt="gp-extract", as_of=AS_OF)
    return path


@pytest.fixture(scope="module")
def risk(out) -> list[dict]:
    return _csv(out / "risk_truth.csv")


# --- the model itself, on a hand-written chart ----------------------------------------------------
def _chart(**patient) -> Chart:
    p = {"patient_id": "p1", "birth_date": dt.date(1940, 6, 1), "sex": "female", "death_date": None,
         "imd_decile": 2, "registration_start": dt.date(2000, 1, 1), "registration_end": None,
         "care_home": False} | patient
    return Chart(random.Random(1), AS_OF, Vocab(), p)


def test_features_read_the_record_on_the_index_date():
    c = _chart(care_home=True)
    v = c.v
    c.condition(v.pick("diabetes", "44054006"), dt.date(2010, 1, 1))
    c.condition(v.pick("chd", "53741008"), INDEX + dt.timedelta(days=1))        # after the index: not read
    c.obs(dt.date(2024, 1, 1), v.pick("frailty_moderate", "925831000000107"))
    c.obs(dt.date(2024, 6, 1), v.pick("frailty_severe", "925861000000102"))
    c.condition(v.pick("falls", "1912002"), add_months(INDEX, -12))            # exactly 12 months: counts
    c.encounter(add_months(INDEX, -12), "EMER", ENC_EMERGENCY)                 # counts
    c.encounter(add_months(INDEX, -12) - dt.timedelta(days=1), "EMER", ENC_EMERGENCY)   # a day short
    c.encounter(INDEX, "EMER", ENC_EMERGENCY)                                   # on the index date
    c.encounter(INDEX, "EMER", ENC_EMERGENCY)                                   # same day: one day counted
    c.encounter(INDEX, "AMB", ENC_EMERGENCY)                                    # not an emergency class
    x = A.features(c.p, Rows.from_resources("p1", c.resources), INDEX, c.v)
    assert x == {"age": 84, "male": 0, "imd_decile": 2, "hypertension": 0, "diabetes": 1, "chd": 0,
                 "stroke_tia": 0, "pad": 0, "current_medicines": 0, "prior_admissions_12m": 2,
                 "fall_12m": 1, "care_home": 1, "severe_frailty": 1, "moderate_frailty": 0}
    b = A.COEFFICIENTS
    expected = (b["intercept"] + b["age_minus_50"] * 34 + b["age_over_70"] * 14 + b["imd_below_5_5"] * 3.5
                + b["diabetes"] + b["prior_admissions_12m"] * 2 + b["fall_12m"] + b["care_home"]
                + b["severe_frailty"])
    assert A.linear_predictor(x) == pytest.approx(expected)
    assert A.linear_predictor(x, with_prior=False) == pytest.approx(expected - 2 * b["prior_admissions_12m"])


def test_risk_rises_strongly_with_age_and_frailty():
    base = {"male": 0, "imd_decile": 5, "hypertension": 0, "diabetes": 0, "chd": 0, "stroke_tia": 0, "pad": 0,
            "current_medicines": 0, "prior_admissions_12m": 0, "fall_12m": 0, "care_home": 0,
            "severe_frailty": 0, "moderate_frailty": 0}
    p = {age: A.sigmoid(A.linear_predictor(base | {"age": age})) for age in (25, 50, 70, 85)}
    assert p[25] < p[50] < p[70] < p[85] and p[85] > 4 * p[25]
    fit = A.sigmoid(A.linear_predictor(base | {"age": 80}))
    moderate = A.sigmoid(A.linear_predictor(base | {"age": 80, "moderate_frailty": 1}))
    severe = A.sigmoid(A.linear_predictor(base | {"age": 80, "severe_frailty": 1}))
    assert fit < moderate < severe and severe > 2 * fit


def test_no_draw_outside_the_training_population():
    for patient in ({"birth_date": dt.date(2008, 1, 1)},                       # 17 on the index date
                    {"registration_start": INDEX + dt.timedelta(days=1)},      # registered after it
                    {"death_date": INDEX},                                      # died on it
                    {"registration_end": dt.date(2024, 1, 1)}):                 # left before it
        c = _chart(**patient)
        assert A.draw(c) is None and c.resources == []


# --- a generated population -----------------------------------------------------------------------
def test_risk_truth_rows_are_exactly_the_training_population(out, risk):
    patients = _csv(out / "patients.csv")
    plan = Plan(SEED, N, math.ceil(N / 40_000))
    planted = {patients[i]["patient_id"] for i in place_scenarios(SEED, plan)}

    def day(text):
        return dt.date.fromisoformat(text) if text else None

    expected = []
    for p in patients:
        start, end, death = day(p["registration_start"]), day(p["registration_end"]), day(p["death_date"])
        if (p["patient_id"] not in planted and age_on(day(p["birth_date"]), INDEX) >= 18 and start <= INDEX
                and not (end and end <= INDEX) and not (death and death <= INDEX)):
            expected.append(p["patient_id"])
    assert [r["patient_id"] for r in risk] == expected           # same people, in patient order
    assert {r["index_date"] for r in risk} == {INDEX.isoformat()}
    assert {r["admitted_12m"] for r in risk} == {"0", "1"}
    assert all(0 < float(r["oracle_probability"]) < 1 for r in risk)


def test_outcome_admissions_are_emer_encounters_for_exactly_the_admitted(out, risk):
    emer = [e for e in _csv(out / "encounters.csv") if e["class"] == "emergency"]
    assert {(e["system"], e["code"]) for e in emer} >= {("snomedct", ENC_EMERGENCY[1])}
    in_window = {e["patient_id"] for e in emer if INDEX < dt.date.fromisoformat(e["start"]) <= AS_OF}
    training = {r["patient_id"] for r in risk}
    admitted = {r["patient_id"] for r in risk if r["admitted_12m"] == "1"}
    assert in_window & training == admitted
    # the admission always follows the registration and precedes any death or leaving date
    patients = {p["patient_id"]: p for p in _csv(out / "patients.csv")}
    for e in emer:
        if e["patient_id"] in training:
            p = patients[e["patient_id"]]
            for stop in (p["death_date"], p["registration_end"]):
                assert not stop or e["start"] <= stop
            assert e["start"] >= p["registration_start"]


def test_prior_admissions_make_history_informative(out, risk):
    emer = _csv(out / "encounters.csv")
    since = add_months(INDEX, -12)
    prior = {e["patient_id"] for e in emer
             if e["class"] == "emergency" and since <= dt.date.fromisoformat(e["start"]) <= INDEX}
    with_prior = [int(r["admitted_12m"]) for r in risk if r["patient_id"] in prior]
    without = [int(r["admitted_12m"]) for r in risk if r["patient_id"] not in prior]
    assert len(with_prior) > 50
    assert sum(with_prior) / len(with_prior) > 2 * sum(without) / len(without)


def test_admission_rate_matches_the_mean_oracle_probability(risk):
    p = [float(r["oracle_probability"]) for r in risk]
    y = [int(r["admitted_12m"]) for r in risk]
    rate, mean_p = sum(y) / len(y), sum(p) / len(p)
    se = math.sqrt(sum(q * (1 - q) for q in p)) / len(p)
    assert 0.05 <= mean_p <= 0.10
    assert abs(rate - mean_p) < 4 * se, (rate, mean_p, se)


def test_oracle_auroc_is_clearly_above_chance(risk):
    auroc = roc_auc_score([int(r["admitted_12m"]) for r in risk], [float(r["oracle_probability"]) for r in risk])
    print(f"oracle AUROC {auroc:.3f} on {len(risk)} patients")
    assert auroc > 0.7


@pytest.mark.parametrize("eta_static, prior_counts", [(-3.0, []), (-3.0, [0, 0]), (-3.0, [1, 0]), (-2.0, [0, 2]),
                                                     (-1.0, [2, 1])])
def test_record_oracle_is_the_outcome_rate_given_what_the_record_shows(eta_static, prior_counts):
    # Simulate the generator's story for one patient many times (u, each prior year's draw, the outcome)
    # and keep the runs whose prior years look like ``prior_counts``: their outcome rate is what the
    # record oracle promises.
    rng = random.Random(7)
    eta = eta_static + A.COEFFICIENTS["prior_admissions_12m"] * (prior_counts[-1] if prior_counts else 0)
    kept = admitted = 0
    while kept < 4000:
        u = rng.gauss(0.0, A.NOISE_SD)
        q = A.sigmoid(eta_static + u)
        counts = [(2 if rng.random() < q else 1) if rng.random() < q else 0 for _ in prior_counts]
        if counts == prior_counts:
            kept += 1
            admitted += rng.random() < A.sigmoid(eta + u)
    expected = A.record_probability(eta_static, eta, prior_counts)
    se = math.sqrt(expected * (1 - expected) / kept)
    assert abs(admitted / kept - expected) < 4 * se, (admitted / kept, expected)
    # and it is not the naive probability at u = 0 once the record says something about u
    if any(prior_counts):
        assert A.record_probability(eta_static, eta, prior_counts) > A.sigmoid(eta)


def test_record_oracle_sits_between_chance_and_the_oracle(risk):
    y = [int(r["admitted_12m"]) for r in risk]
    record = [float(r["record_oracle_probability"]) for r in risk]
    oracle = roc_auc_score(y, [float(r["oracle_probability"]) for r in risk])
    best = roc_auc_score(y, record)
    print(f"record-oracle AUROC {best:.3f}, oracle {oracle:.3f}")
    assert 0.7 < best < oracle
    se = math.sqrt(sum(q * (1 - q) for q in record)) / len(record)
    assert abs(sum(y) / len(y) - sum(record) / len(record)) < 4 * se


def test_generator_json_documents_the_model(out, risk):
    summary = json.loads((out / "generator.json").read_text())
    model = summary["admissions_model"]
    assert model["coefficients"] == A.COEFFICIENTS and model["noise_sd"] == A.NOISE_SD
    assert "logit p" in model["formula"] and model["index_date"] == INDEX.isoformat()
    assert model["training_population"] == len(risk)
    assert model["admitted_12m"] == sum(r["admitted_12m"] == "1" for r in risk)
    assert summary["scenario_mismatches"] == []


def test_deterministic_by_seed_and_the_same_in_every_format(tmp_path):
    def gen(name, fmt, seed=SEED):
        path = tmp_path / name
        generate(path, 700, seed=seed, fmt=fmt, as_of=AS_OF)
        return (path / "risk_truth.csv").read_bytes()

    a = gen("a", "gp-extract")
    assert a == gen("b", "gp-extract")
    assert a == gen("c", "fhir-ndjson") == gen("d", "fhir-bundles")
    assert a != gen("e", "gp-extract", seed=SEED + 1)
