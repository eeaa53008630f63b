"""Builds patients chunk by chunk: demographics, then planted scenario or ordinary history, then truth.

A chunk's RNG depends only on (seed, chunk number) and chunks are a fixed size, so any chunk can
be rebuilt alone and the output never depends on the format being written.
"""
from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field

from synthetic_data.chart import Chart
from synthetic_data.clinical import background
from synthetic_data.nhs_number import NhsNumbers
from synthetic_data.organisations import UNASSIGNED, Plan
from synthetic_data.people import (Ethnicity, age_on, birth_date_for_age, sample_age,
                                   sample_name, sample_sex)
from synthetic_data.cohorts import SCENARIOS, TRUTHS, UNASSIGNED_SCENARIO
from synthetic_data.cohorts.common import Rows
from synthetic_data.scenarios import Scenario
from synthetic_data.vocab import Vocab

CHUNK = 5000
BACKGROUND_POSITIVE_RATE = 0.03
OLD_ADDRESS_RATE = 0.08          # FHIR Patient.address also holds an earlier, ended address


@dataclass
class Built:
    patient: dict
    resources: list[dict]
    scenario: Scenario | None
    truth: dict                  # cohort → band, for every cohort the patient must be listed in
    pcn_id: str
    risk: dict | None = None     # risk_truth row (synthetic_data.admissions) for the training population
    layout_mismatch: list = field(default_factory=list)   # cohorts whose band differs in the GP-extract layout


def place_scenarios(seed: int, plan: Plan) -> dict[int, Scenario]:
    """Patient number → planted scenario.

    When every PCN can give half its list to scenarios, each PCN gets every scenario (two of each
    when the PCN is large). Otherwise the scenarios are dealt round the PCNs so that each is still
    planted at least once in the population, as far as half of each list allows.
    """
    rng = random.Random(f"scenarios:{seed}")
    placed: dict[int, Scenario] = {}
    n = len(SCENARIOS)
    groups = [g for g in plan.groups() if g[2] > 0]
    for key, first, size in groups:
        if key == UNASSIGNED:
            placed[first + rng.randrange(size)] = UNASSIGNED_SCENARIO
    pcns = [g for g in groups if g[0] != UNASSIGNED]
    if not pcns:
        return placed
    if all(size // 2 >= n for _, _, size in pcns):
        wanted = {key: [s for s in SCENARIOS for _ in range(2 if size >= 6 * n else 1)]
                  for key, _, size in pcns}
    else:
        wanted = {key: [] for key, _, _ in pcns}
        room = {key: max(1, size // 2) for key, _, size in pcns}
        turn = 0
        for s in SCENARIOS:
            for _ in range(len(pcns)):
                key = pcns[turn % len(pcns)][0]
                turn += 1
                if len(wanted[key]) < room[key]:
                    wanted[key].append(s)
                    break
    for key, first, size in pcns:
        for index, scenario in zip(rng.sample(range(first, first + size), len(wanted[key])), wanted[key]):
            placed[index] = scenario
    return placed


class Population:
    def __init__(self, seed: int, n_patients: int, n_pcns: int, as_of: dt.date, vocab: Vocab):
        self.seed, self.n, self.as_of, self.v = seed, n_patients, as_of, vocab
        self.plan = Plan(seed, n_patients, n_pcns)
        self.placed = place_scenarios(seed, self.plan)
        self.eth = Ethnicity(vocab.rows("ethnicity"))
        self.nhs = NhsNumbers(seed)

    def chunks(self):
        for k in range((self.n + CHUNK - 1) // CHUNK):
            yield self.build_chunk(k)

    def build_chunk(self, k: int) -> list[Built]:
        rng = random.Random(f"patients:{self.seed}:{k}")
        return [self._patient(rng, i) for i in range(k * CHUNK, min(self.n, (k + 1) * CHUNK))]

    def _patient(self, rng: random.Random, index: int) -> Built:
        as_of = self.as_of
        practice = self.plan.practice_of(index)
        scenario = self.placed.get(index)
        if scenario:
            age = rng.randint(*scenario.ages)
            sex = scenario.sex or rng.choice(("female", "male"))
        else:
            age = sample_age(rng)
            sex = sample_sex(rng, age)
        given, family = sample_name(rng, sex)
        birth = birth_date_for_age(rng, as_of, age)
        lsoa, imd = rng.choice(practice.lsoas)
        years_registered = rng.uniform(0, min(age, 30) + 0.5) if not scenario else rng.uniform(5, min(age, 25))
        start = max(birth + dt.timedelta(days=rng.randrange(1, 60)),
                    as_of - dt.timedelta(days=int(years_registered * 365.25)))
        start = min(start, as_of)
        death = end = None
        care_home = False
        if not scenario:
            p_death = 0.003 + (0.03 if age >= 70 else 0) + (0.06 if age >= 85 else 0)
            if rng.random() < p_death:
                death = max(start, as_of - dt.timedelta(days=rng.randrange(1, 1000)))
                if death >= as_of:
                    death = None
            if death is None and rng.random() < 0.03:
                end = as_of - dt.timedelta(days=rng.randrange(1, 700))
                end = end if end > start else None
            care_home = age >= 75 and rng.random() < (0.12 if age >= 85 else 0.04)
        p = {
            "patient_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "nhs_number": self.nhs.number(index), "given_name": given, "family_name": family,
            "birth_date": birth, "sex": sex, "death_date": death, "lsoa_code": lsoa,
            "imd_decile": imd, "practice_id": practice.ods, "practice": practice,
            "registration_start": start, "registration_end": end, "care_home": care_home,
        }
        c = Chart(rng, as_of, self.v, p)
        c.eth = self.eth
        risk = None
        if not scenario and rng.random() < OLD_ADDRESS_RATE:
            c.moved_house(old_care_home=not care_home and age >= 75 and rng.random() < 0.2)
        if scenario:
            scenario.build(c)
            if not scenario.own_ethnicity:
                self._ethnicity(c, self.eth.code_for(rng, "White British"), stated_only=True)
        else:
            coding = self.eth.sample(rng, practice.minority_factor)
            self._ethnicity(c, coding)
            category = self.eth.category(coding[1])
            positive = age >= 18 and rng.random() < BACKGROUND_POSITIVE_RATE
            risk = background(c, age_on(birth, as_of), imd, category, positive)
        rows = Rows.from_resources(p["patient_id"], c.resources)
        truth = self._truth(p, rows)
        layouts = []
        if any(m["kind"] != "issue" for m in rows.medications):
            # The GP extract holds an authorisation as the issues it implied: planted dates keep away
            # from window edges so both layouts give the same listings; any difference is reported.
            gp = self._truth(p, Rows.from_gp_extract(p["patient_id"], c.resources, as_of))
            layouts = sorted(k for k in set(truth) | set(gp) if truth.get(k) != gp.get(k))
        return Built(p, c.resources, scenario, truth, practice.pcn.ods if practice.pcn else UNASSIGNED, risk,
                     layouts)

    def _truth(self, p: dict, rows: Rows) -> dict:
        truth = {}
        for cohort, rule in TRUTHS.items():
            band = rule(p, rows, self.as_of, self.v)
            if band:
                truth[cohort] = band
        return truth

    def _ethnicity(self, c: Chart, coding, stated_only=False):
        """Most patients have a census code; some none, some only 'not stated', some both."""
        rng, p = c.rng, c.p
        first = max(p["registration_start"], p["birth_date"]) + dt.timedelta(days=rng.randrange(0, 30))
        first = min(first, c.last_day)
        r = 1.0 if stated_only else rng.random()
        if r < 0.11:
            return
        if r < 0.15:
            c.ethnicity(first, self.eth.not_stated)
            return
        later = first + dt.timedelta(days=rng.randrange(30, 400))
        if r < 0.22 and later < c.last_day:
            # 'not stated' first, the census code at a later visit
            c.ethnicity(first, self.eth.not_stated)
            c.ethnicity(later, coding)
            return
        c.ethnicity(first, coding)
        if r < 0.26 and later < c.last_day:
            c.ethnicity(later, self.eth.not_stated)
