"""Emergency admissions drawn from a documented latent risk: the labelled history a risk model learns.

The index date is ``as_of − 12 months`` (``people.add_months``); the outcome window is
(index, as_of]. The **training population** is every ordinary (background, not planted-scenario)
patient who is at least 18, registered and alive on the index date (CLINICAL_RULES §0 eligibility,
``cohorts.common.eligible``). Planted scenarios get no drawn admissions: their records are exact
by design. For each patient in the training population, after the rest of the history is written:

1. ``x`` is read from the patient's canonical rows as they stand on the index date (what a
   feature pipeline run at the index date sees): see ``features``.
2. A patient-level noise term ``u ~ Normal(0, NOISE_SD)`` is drawn (unmeasured health).
3. Prior admissions: for each of the two years before the index date, (index − 24 m, index − 12 m)
   and [index − 12 m, index], at least one admission with probability
   ``sigmoid(eta_static)`` (``eta_static`` = the linear predictor without the prior-admissions
   term, including ``u``), a second with the same probability again; days uniform in the year,
   never before the registration start or the 18th birthday. Admissions share ``u`` with the
   outcome, so history is informative beyond the measured features.
4. ``prior_admissions_12m`` = days with an emergency encounter starting in [index − 12 m, index]
   (inclusive, the project's "last 12 months"), from the written rows.
5. The oracle::

       logit p = β0 + β_age·(age − 50) + β_age70·max(0, age − 70) + β_male·male
                 + β_imd·(5.5 − imd_decile)
                 + β_htn·hypertension + β_dm·diabetes + β_chd·chd + β_stroke·stroke_tia + β_pad·pad
                 + β_meds·min(current_medicines, 10) + β_prior·min(prior_admissions_12m, 3)
                 + β_falls·fall_12m + β_care·care_home
                 + β_modfrail·moderate_frailty + β_sevfrail·severe_frailty
                 + u,                      u ~ Normal(0, 0.5)

   with the coefficients in ``COEFFICIENTS`` (β0 = −3.3, β_age = 0.03 per year, β_age70 = 0.04
   per year over 70, β_male = 0.05, β_imd = 0.06 per decile below 5.5, hypertension 0.15,
   diabetes 0.35, CHD 0.40, stroke/TIA 0.40, PAD 0.40, 0.08 per current medicine, 0.45 per prior
   admission (up to 3), a fall 0.50, care home 0.60, moderate frailty 0.60, severe frailty 1.10).
   ``oracle_probability`` = p, the patient's true probability given x *and* u.
6. Outcome: at least one admission in (index, as_of] with probability p (a second with
   probability p again), each on a day uniform in the window. A death or deregistration stops the
   record: an admission after ``Chart.last_day`` is not written. ``admitted_12m`` = 1 exactly when
   at least one admission is written in the window, so the label is what the record shows.
7. The record oracle (``record_probability``): the best probability anyone could compute from the
   record, E[p | x, prior history] — ``u`` integrated out over its posterior given the admissions
   written in each of the two prior years (each year's draw has likelihood 1 − q for none, q(1 − q)
   for one, q² for two, q = sigmoid(eta_static + u)), by Gauss–Hermite quadrature. The gap between our
   model's AUROC and this oracle's is the model's; the rest of the gap to ``oracle_probability`` is
   the unmeasured ``u`` no record holds.

Features at index:
- ``age`` on the index date, ``male`` (sex), ``imd_decile``;
- long-term conditions on the register on the index date (``common.on_register`` over events
  dated on or before it, resolved lists where the project has them): hypertension, diabetes, chd,
  stroke_tia, pad;
- ``current_medicines``: ``common.current_medicines`` on the index date (90 days);
- ``fall_12m``: a falls code dated in [index − 12 m, index];
- ``care_home``: a care-home resident on the index date (address flag or residence code,
  ``cohorts.care_home.resident``);
- frailty: the most severe eFI frailty code (``frailty_severe`` / ``frailty_moderate``) dated on or
  before the index date.

Admissions are written as today's background admissions were: an Encounter of class EMER with
the SNOMED type 50849002 "Emergency room admission" (``vocab.ENC_EMERGENCY``). Every draw uses the
chunk's RNG, so the output is deterministic by seed and the same in every format.
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np

from synthetic_data.chart import Chart
from synthetic_data.cohorts.care_home import resident
from synthetic_data.cohorts.common import Rows, add_months, age_on, current_medicines, eligible, has_code, on_register
from synthetic_data.vocab import ENC_EMERGENCY

INDEX_MONTHS = 12          # index date = as_of − 12 months; outcome window (index, as_of]
NOISE_SD = 0.5
MAX_MEDICINES, MAX_PRIOR = 10, 3
COEFFICIENTS = {
    "intercept": -3.3,
    "age_minus_50": 0.03,
    "age_over_70": 0.04,
    "male": 0.05,
    "imd_below_5_5": 0.06,
    "hypertension": 0.15,
    "diabetes": 0.35,
    "chd": 0.40,
    "stroke_tia": 0.40,
    "pad": 0.40,
    "current_medicines": 0.08,
    "prior_admissions_12m": 0.45,
    "fall_12m": 0.50,
    "care_home": 0.60,
    "moderate_frailty": 0.60,
    "severe_frailty": 1.10,
}
# (feature, codelist, resolved codelist or None): the registers the model reads.
CONDITIONS = (("hypertension", "hypertension", "hypertension_resolved"),
              ("diabetes", "diabetes", "diabetes_resolved"),
              ("chd", "chd", None), ("stroke_tia", "stroke_tia", None), ("pad", "pad", None))
FORMULA = ("logit p = intercept + age_minus_50*(age-50) + age_over_70*max(0,age-70) + male*male "
           "+ imd_below_5_5*(5.5-imd_decile) + hypertension + diabetes + chd + stroke_tia + pad "
           "+ current_medicines*min(current_medicines,10) + prior_admissions_12m*min(prior_admissions_12m,3) "
           "+ fall_12m + care_home + moderate_frailty + severe_frailty + u, u ~ Normal(0, 0.5); "
           "features read from the record on index_date = as_of - 12 months; admitted_12m = at least one "
           "EMER encounter written in (index_date, as_of]")


def index_date(as_of: dt.date) -> dt.date:
    return add_months(as_of, -INDEX_MONTHS)


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def describe() -> dict:
    """The model as written to generator.json."""
    return {"formula": FORMULA, "coefficients": dict(COEFFICIENTS), "noise_sd": NOISE_SD,
            "index_months": INDEX_MONTHS, "population": "background patients aged >= 18, registered and "
            "alive on the index date (planted scenarios excluded)",
            "admission_coding": {"class": "EMER", "system": ENC_EMERGENCY[0], "code": ENC_EMERGENCY[1],
                                 "display": ENC_EMERGENCY[2]}}


def emergency_count(rows: Rows, lo: dt.date, hi: dt.date) -> int:
    """Days in [lo, hi] on which an emergency encounter starts (as the engine's feature counts them)."""
    return len({e["start"] for e in rows.encounters if e["emergency"] and lo <= e["start"] <= hi})


def features(p: dict, rows: Rows, index: dt.date, v) -> dict:
    """x on the index date, from the canonical rows (nothing after the index date is read)."""
    ev = rows.valid_events(index)
    since = add_months(index, -12)
    x = {"age": age_on(p["birth_date"], index), "male": int(p["sex"] == "male"), "imd_decile": p["imd_decile"]}
    for name, codes, resolved in CONDITIONS:
        x[name] = int(on_register(ev, v.pairs(codes), v.pairs(resolved) if resolved else frozenset()) is not None)
    x["current_medicines"] = current_medicines(rows, index, 90)
    x["prior_admissions_12m"] = emergency_count(rows, since, index)
    x["fall_12m"] = int(has_code(ev, v.pairs("falls"), since) is not None)
    x["care_home"] = int(resident(p, rows, index, v))
    severe = has_code(ev, v.pairs("frailty_severe")) is not None
    x["severe_frailty"] = int(severe)
    x["moderate_frailty"] = int(not severe and has_code(ev, v.pairs("frailty_moderate")) is not None)
    return x


def linear_predictor(x: dict, with_prior: bool = True) -> float:
    """β0 + β·x (without the noise term)."""
    b = COEFFICIENTS
    eta = (b["intercept"] + b["age_minus_50"] * (x["age"] - 50) + b["age_over_70"] * max(0, x["age"] - 70)
           + b["male"] * x["male"] + b["imd_below_5_5"] * (5.5 - x["imd_decile"])
           + sum(b[name] * x[name] for name, _, _ in CONDITIONS)
           + b["current_medicines"] * min(x["current_medicines"], MAX_MEDICINES)
           + b["fall_12m"] * x["fall_12m"] + b["care_home"] * x["care_home"]
           + b["moderate_frailty"] * x["moderate_frailty"] + b["severe_frailty"] * x["severe_frailty"])
    if with_prior:
        eta += b["prior_admissions_12m"] * min(x["prior_admissions_12m"], MAX_PRIOR)
    return eta


# Gauss–Hermite nodes for E over u ~ Normal(0, NOISE_SD): u_i = sqrt(2)·NOISE_SD·t_i, weight w_i / sqrt(pi)
_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(40)
_U = [math.sqrt(2.0) * NOISE_SD * t for t in _NODES]
_W = [w / math.sqrt(math.pi) for w in _WEIGHTS]


def record_probability(eta_static: float, eta: float, prior_counts: list[int]) -> float:
    """E[sigmoid(eta + u) | prior_counts], u ~ Normal(0, NOISE_SD) a priori; each prior year's count of
    admissions (0, 1 or 2) drawn with q = sigmoid(eta_static + u) as ``_admissions`` draws them."""
    num = den = 0.0
    for u, w in zip(_U, _W):
        q = sigmoid(eta_static + u)
        like = 1.0
        for k in prior_counts:
            like *= (1.0 - q) if k == 0 else (q * (1.0 - q) if k == 1 else q * q)
        num += w * like * sigmoid(eta + u)
        den += w * like
    return num / den


def _admissions(c: Chart, prob: float, lo: dt.date, hi: dt.date) -> list[dt.date]:
    """Days in [lo, hi] of up to two admissions (each with ``prob``), written if on or before last_day."""
    rng = c.rng
    n = 0
    if rng.random() < prob:
        n = 2 if rng.random() < prob else 1
    days = []
    if n == 0 or hi < lo:
        return days
    for _ in range(n):
        day = lo + dt.timedelta(days=rng.randrange((hi - lo).days + 1))
        if day <= c.last_day:
            c.encounter(day, "EMER", ENC_EMERGENCY)
            days.append(day)
    return days


def draw(c: Chart) -> dict | None:
    """Draw prior and outcome admissions for an ordinary patient; returns the risk_truth row (patient_id,
    index_date, oracle_probability, record_oracle_probability, admitted_12m), or None outside the
    training population."""
    p, rng = c.p, c.rng
    index = index_date(c.as_of)
    if not eligible(p, index):
        return None
    pid = p["patient_id"]
    x = features(p, Rows.from_resources(pid, c.resources), index, c.v)
    u = rng.gauss(0.0, NOISE_SD)
    eta_static = linear_predictor(x, with_prior=False)
    p_static = sigmoid(eta_static + u)
    # Prior history: two years before the index, never before registration or the 18th birthday.
    first = max(p["registration_start"], add_months(p["birth_date"], 18 * 12))
    prior_counts = []      # what the record shows of each year's draw (a year before registration shows nothing)
    for lo, hi in ((add_months(index, -24) + dt.timedelta(days=1), add_months(index, -12) - dt.timedelta(days=1)),
                   (add_months(index, -12), index)):
        days = _admissions(c, p_static, max(lo, first), hi)
        if max(lo, first) <= hi:
            prior_counts.append(len(days))
    x = features(p, Rows.from_resources(pid, c.resources), index, c.v)
    eta = linear_predictor(x)
    prob = sigmoid(eta + u)
    outcome = _admissions(c, prob, index + dt.timedelta(days=1), c.as_of)
    return {"patient_id": pid, "index_date": index.isoformat(), "oracle_probability": prob,
            "record_oracle_probability": record_probability(eta_static, eta, prior_counts),
            "admitted_12m": int(bool(outcome))}
