"""Ordinary patients' histories: long-term conditions by age and deprivation, readings, contacts.

An ordinary patient who is not on the hypertension register has a normal latest BP, so every
positive in the population is either planted or a background positive written on purpose;
truth is still computed from the records, never assumed.
"""
from __future__ import annotations

import datetime as dt
import random

from synthetic_data import records as R
from synthetic_data.admissions import draw as draw_admissions
from synthetic_data.chart import Chart
from synthetic_data.people import SOUTH_ASIAN, add_years
from synthetic_data.vocab import ENC_FOLLOWUP, ENC_PROBLEM, PARACETAMOL, PROC_ECG, REF_CARDIOLOGY


def _by_age(age: int, table: list[tuple[int, float]]) -> float:
    """table: (minimum age, probability) ascending; the last row whose age is reached."""
    p = 0.0
    for lo, prob in table:
        if age >= lo:
            p = prob
    return p


HTN = [(18, 0.02), (40, 0.08), (50, 0.18), (60, 0.32), (70, 0.45), (80, 0.55)]
DIABETES = [(18, 0.015), (40, 0.07), (60, 0.15), (80, 0.16)]
CHD = [(40, 0.015), (60, 0.06), (70, 0.11), (80, 0.17)]
STROKE = [(50, 0.015), (70, 0.05), (80, 0.08)]
PAD = [(55, 0.01), (70, 0.03)]
# eFI frailty codes by age: (minimum age, P(moderate), P(severe)); care-home residents twice as likely.
FRAILTY = [(65, 0.08, 0.02), (75, 0.15, 0.06), (85, 0.22, 0.15)]
FALLS = [(60, 0.05), (75, 0.09), (85, 0.14)]     # a fall recorded in the last two years

# Raised readings for background positives: (setting, systolic range, diastolic range).
RAISED = {
    ("clinic", "severe"): ((180, 210), (85, 125)),
    ("clinic", "stage 2"): ((160, 179), (80, 99)),
    ("clinic", "stage 1"): ((140, 159), (70, 89)),
    ("home", "severe"): ((170, 200), (80, 118)),
    ("home", "stage 2"): ((150, 169), (75, 94)),
    ("home", "stage 1"): ((135, 149), (70, 84)),
}


def normal_bp(rng: random.Random, setting: str) -> tuple[int, int]:
    hi_s, hi_d = (139, 89) if setting == "clinic" else (134, 84)
    return rng.randint(100, hi_s), rng.randint(58, hi_d)


def background(c: Chart, age: int, imd: int, category: str, positive: bool) -> dict | None:
    """Write an ordinary history; ``positive``: an undiagnosed raised latest reading on top.

    Emergency admissions come last, drawn from the latent risk in ``synthetic_data.admissions``
    over the rest of the history; returns its risk_truth row (None outside the training population)."""
    rng, p = c.rng, c.p
    end = c.last_day
    adult = age >= 18
    dep = 1 + 0.04 * (5.5 - imd)        # decile 1 ≈ 1.18, decile 10 ≈ 0.82
    eth_dm = 2.0 if category in SOUTH_ASIAN or category in ("African", "Caribbean", "Other Black") else 1.0

    def onset(min_age=25):
        lo = max(add_years(p["birth_date"], min(min_age, age)),
                 c.as_of - dt.timedelta(days=365 * 20))
        return c.day_between(lo, end - dt.timedelta(days=30))

    htn = adult and not positive and rng.random() < _by_age(age, HTN) * dep
    if htn:
        d = onset()
        coding = c.v.pick("hypertension", "38341003" if rng.random() < 0.5 else "59621000")
        c.condition(coding, d, partial=d.year < 2005 and rng.random() < 0.3)
        r = rng.random()
        if r < 0.45:
            c.amlodipine_issues(rng.randint(1, 4))
        elif r < 0.75:
            c.amlodipine_repeat()          # on repeat: an authorisation, not issues (§0)
    diabetic = adult and rng.random() < _by_age(age, DIABETES) * dep * eth_dm
    if diabetic:
        c.condition(c.v.pick("diabetes", "44054006" if rng.random() < 0.9 else "46635009"), onset(30))
    for name, table, codes in (("chd", CHD, ("53741008", "22298006", "194828000")),
                               ("stroke_tia", STROKE, ("230690007", "422504002", "266257000")),
                               ("pad", PAD, ("840580004", "400047006", "63491006"))):
        boost = 1.4 if name == "chd" and p["sex"] == "male" else 1.0
        if adult and rng.random() < _by_age(age, table) * dep * boost:
            c.condition(c.v.pick(name, rng.choice(codes)), onset(40))

    if adult and rng.random() < 0.6:
        base = rng.lognormvariate(3.28, 0.17)       # median ≈ 26.6 kg/m2
        for _ in range(rng.randint(1, 3)):
            c.bmi(c.day_between(end - dt.timedelta(days=5 * 365), end), round(base + rng.uniform(-1, 1), 1))
    if adult and (age >= 40 or diabetic or htn) and rng.random() < (0.9 if diabetic or htn else 0.5):
        base = max(8, min(120, 105 - 0.7 * max(0, age - 30) + rng.gauss(0, 12)))
        days = sorted({rng.randrange(0, 3 * 365) for _ in range(rng.randint(1, 3))})
        for back in days:
            c.egfr(end - dt.timedelta(days=back), int(round(base + rng.uniform(-4, 4))))

    _bp_history(c, age, htn, positive)

    if p["sex"] == "female" and 18 <= age <= 45 and rng.random() < 0.04:
        # Current pregnancies stay well inside the 42-week window, old ones well outside it.
        back = rng.randrange(14, 270) if rng.random() < 0.5 else rng.randrange(330, 5 * 365)
        if c.ago(back) <= end:
            c.condition(c.v.pick("pregnancy", "77386006"), c.ago(back))
    if age >= 60 and rng.random() < (0.015 if age >= 75 else 0.003):
        c.procedure(c.day_between(end - dt.timedelta(days=400), end), c.v.pick("palliative", "103735009"))
    if rng.random() < 0.5:
        for _ in range(rng.randint(1, 3)):
            c.encounter(c.day_between(end - dt.timedelta(days=730), end), "AMB",
                        ENC_PROBLEM if rng.random() < 0.7 else ENC_FOLLOWUP)
    if adult and rng.random() < 0.1:
        day = c.day_between(end - dt.timedelta(days=365), end)
        c.add(R.medication(c.new_id(), day.isoformat(), PARACETAMOL,
                           (day + dt.timedelta(days=14)).isoformat(), 32, "completed"))
    if age >= 40 and rng.random() < 0.02:
        c.referral(c.day_between(end - dt.timedelta(days=540), end), REF_CARDIOLOGY,
                   "urgent" if rng.random() < 0.2 else "routine", rng.choice(("active", "completed")))
    if age >= 50 and rng.random() < 0.03:
        c.procedure(c.day_between(end - dt.timedelta(days=730), end), PROC_ECG)
    _frailty_and_falls(c, age)
    return draw_admissions(c)


def _frailty_and_falls(c: Chart, age: int) -> None:
    """An eFI frailty code (moderate or severe) dated in the last five years, and falls in the last two,
    both rising with age and frailty (inputs of the admissions model)."""
    rng, p = c.rng, c.p
    end = c.last_day
    moderate = severe = 0.0
    for lo, mod, sev in FRAILTY:
        if age >= lo:
            moderate, severe = mod, sev
    if p["care_home"]:
        moderate, severe = min(0.4, 2 * moderate), min(0.4, 2 * severe)
    r = rng.random()
    level = "frailty_severe" if r < severe else "frailty_moderate" if r < severe + moderate else None
    if level:
        code = "925861000000102" if level == "frailty_severe" else "925831000000107"
        c.obs(c.day_between(end - dt.timedelta(days=5 * 365), end), c.v.pick(level, code))
    fall = _by_age(age, FALLS) * (4 if level == "frailty_severe" else 2.5 if level else 1)
    if rng.random() < fall:
        for _ in range(rng.randint(1, 2)):
            coding = c.v.pick("falls", rng.choice(("1912002", "161898004", "217082002")))
            c.condition(coding, c.day_between(end - dt.timedelta(days=730), end))


def _bp_history(c: Chart, age: int, htn: bool, positive: bool) -> None:
    rng = c.rng
    end = c.last_day
    if age < 18 or not (htn or positive or rng.random() < (0.8 if age >= 40 else 0.45)):
        return
    n = rng.randint(1, 4) if not htn else rng.randint(2, 5)
    backs = sorted({rng.randrange(0, 5 * 365) for _ in range(n)}, reverse=True)  # oldest first
    if positive:
        # The raised reading is the newest day, inside 20 months, on a day of its own.
        newest = rng.randrange(0, 600)
        backs = [b for b in backs if b > newest] + [newest]
    for i, back in enumerate(backs):
        day = end - dt.timedelta(days=back)
        setting = "clinic" if rng.random() < 0.85 else "home"
        if htn:
            s, d = rng.randint(120, 175), rng.randint(70, 105)
        elif positive and i == len(backs) - 1:
            band = rng.choices(("severe", "stage 2", "stage 1"), weights=(1, 3, 6))[0]
            (slo, shi), (dlo, dhi) = RAISED[(setting, band)]
            s, d = rng.randint(slo, shi), rng.randint(dlo, dhi)
        elif i < len(backs) - 1 and rng.random() < 0.1:
            s, d = rng.randint(140, 165), rng.randint(80, 98)   # an old raised reading, since normal
        else:
            s, d = normal_bp(rng, setting)
        c.bp(day, s, d, setting)
