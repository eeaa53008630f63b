"""A patient's chart being written: helpers that add correctly coded records to one patient.

Every record gets its id from the chunk's RNG, so the same seed gives the same ids in every
output format. BP readings are written in the several ways real systems write them.
"""
from __future__ import annotations

import datetime as dt
import random
import uuid

from synthetic_data import records as R
from synthetic_data.vocab import (AMLODIPINE_SOLN, AMLODIPINE_TABS, BMI_UNIT, EGFR_UNIT, ENC_REFERRAL_SEEN,
                                  MMHG, Vocab)

# How a source marks an issue (any order intent) and an authorisation (Chart.authorisation).
ISSUE_STYLES = ("order", "order", "order", "original-order", "instance-order", "filler-order")
AUTH_STYLES = ("plan", "continuous", "repeat_dispensing", "repeats", "active_order")
CLINIC_STYLES = ("snomed_uk", "snomed_plain", "snomed_oe", "loinc_panel", "ukcore_panel")
HOME_STYLES = ("home_pair", "home_panel", "abpm_24h", "abpm_day", "home_marker")


class Chart:
    def __init__(self, rng: random.Random, as_of: dt.date, vocab: Vocab, patient: dict):
        # codes are written through the vocabulary's swap groups (non-core members as often as core)
        self.rng, self.as_of, self.p = rng, as_of, patient
        self.v = vocab.bound(rng) if isinstance(vocab, Vocab) else vocab
        self.resources: list[dict] = []

    # -- ids, dates -------------------------------------------------------------------------
    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    @property
    def last_day(self) -> dt.date:
        """Records stop at death or leaving the practice: later ones are not in this extract."""
        ends = [self.as_of] + [d for d in (self.p["death_date"], self.p["registration_end"]) if d]
        return min(ends)

    def ago(self, days: int) -> dt.date:
        return self.as_of - dt.timedelta(days=days)

    def day_between(self, lo: dt.date, hi: dt.date) -> dt.date:
        lo = max(lo, self.p["birth_date"])
        if hi <= lo:
            return hi
        return lo + dt.timedelta(days=self.rng.randrange((hi - lo).days + 1))

    def when(self, day: dt.date, timed: bool = True) -> str:
        return R.stamp(day, self.rng.randrange(8 * 60, 18 * 60) if timed else None)

    def add(self, res: dict) -> dict:
        self.resources.append(res)
        return res

    # -- the patient ------------------------------------------------------------------------------
    def moved_house(self, old_care_home: bool = False, layout: str | None = None):
        """An earlier address, ended before the run date (FHIR only: the GP extract and the canonical
        row carry the current address). ``old_care_home``: the earlier one was a care home."""
        lsoas = [code for code, _ in self.p["practice"].lsoas if code != self.p["lsoa_code"]] or [self.p["lsoa_code"]]
        end = self.ago(self.rng.randrange(60, 1500))
        start = end - dt.timedelta(days=self.rng.randrange(300, 3000))
        self.p["old_address"] = (self.rng.choice(lsoas), old_care_home, start, end,
                                 layout or self.rng.choice(("old_first", "home_ended", "old_last")))

    # -- observations -------------------------------------------------------------------------
    def obs(self, day, coding, value=None, unit=None, status="final", when=None):
        return self.add(R.observation(self.new_id(), when or self.when(day), [coding], value, unit,
                                      status=status))

    def egfr(self, day, value):
        coding = self.v.pick("egfr", "1011481000000105") if self.rng.random() < 0.8 else \
            self.v.pick("egfr", "62238-1")
        return self.obs(day, coding, value, EGFR_UNIT)

    def bmi(self, day, value):
        coding = self.v.pick("bmi", "60621009") if self.rng.random() < 0.85 else self.v.pick("bmi", "39156-5")
        return self.obs(day, coding, value, BMI_UNIT)

    def ethnicity(self, day, coding):
        return self.obs(day, coding, when=self.when(day, timed=False))

    def bp(self, day, sys, dia, setting="clinic", style=None, minute=None, status="final"):
        """One BP reading (systolic and diastolic) on ``day``, written in ``style``."""
        v = self.v
        if style is None:
            style = self.rng.choice(CLINIC_STYLES if setting == "clinic" else
                                    HOME_STYLES if setting == "home" else HOME_STYLES[2:4])
        when = R.stamp(day, minute if minute is not None else self.rng.randrange(8 * 60, 18 * 60))

        def pair(s_code, d_code):
            s = self.add(R.observation(self.new_id(), when, [v.coding("bp_systolic", s_code)], sys,
                                       MMHG, status=status))
            self.add(R.observation(self.new_id(), when, [v.coding("bp_diastolic", d_code)], dia,
                                   MMHG, status=status))
            return s

        def panel(panel_codes, s_codes, d_codes):
            return self.add(R.observation(
                self.new_id(), when, [v.coding("bp_panel", c) for c in panel_codes],
                components=[([v.coding("bp_systolic", c) for c in s_codes], sys, MMHG),
                            ([v.coding("bp_diastolic", c) for c in d_codes], dia, MMHG)],
                status=status))

        if style == "snomed_uk":
            return pair("72313002", "1091811000000102")
        if style == "snomed_plain":
            return pair("271649006", "271650006")
        if style == "snomed_oe":
            return pair("163030003", "163031004")
        if style == "loinc_panel":
            return panel(["85354-9"], ["8480-6"], ["8462-4"])
        if style == "ukcore_panel":
            return panel(["75367002", "85354-9"], ["72313002", "8480-6"], ["1091811000000102", "8462-4"])
        if style == "home_pair":
            return pair("413606001", "413605002")
        if style == "home_panel":
            return panel(["75367002"], ["413606001"], ["413605002"])
        if style == "abpm_24h":
            return pair("314449000", "314462001")
        if style == "abpm_day":
            return pair("198081000000101", "198091000000104")
        if style == "home_marker":
            # Clinic-coded values, made a home reading by the self-measured marker on the same day.
            self.add(R.observation(self.new_id(), when, [v.coding("bp_home", "335661000000109")],
                                   status=status))
            return pair("271649006", "271650006")
        raise ValueError(f"unknown BP style {style}")

    # -- conditions and other records -------------------------------------------------------
    def condition(self, coding, onset: dt.date, clinical="active", verification="confirmed",
                  abatement: dt.date | None = None, partial=False):
        """A Condition; ``partial`` writes an old onset as YYYY-MM as some migrated records do."""
        onset_text = onset.isoformat()[:7] if partial else onset.isoformat()
        return self.add(R.condition(self.new_id(), onset_text, [coding], clinical, verification,
                                    abatement.isoformat() if abatement else None,
                                    recorded=onset.isoformat() if not partial else onset_text))

    def procedure(self, day, coding, status="completed"):
        return self.add(R.procedure(self.new_id(), self.when(day), [coding], status))

    def amlodipine_issues(self, n: int):
        day = self.last_day - dt.timedelta(days=self.rng.randrange(5, 60))
        coding = AMLODIPINE_TABS if self.rng.random() < 0.9 else AMLODIPINE_SOLN
        for k in range(n):
            qty = 28 if coding is AMLODIPINE_TABS else 150
            self.add(R.medication(self.new_id(), day.isoformat(), coding,
                                  (day + dt.timedelta(days=28)).isoformat(), qty, "completed",
                                  intent=self.rng.choice(ISSUE_STYLES)))
            day -= dt.timedelta(days=self.rng.choice((28, 56, 84)))

    def amlodipine_repeat(self):
        """Amlodipine on repeat, as a practice system holds it: an authorisation in force since years
        ago (no end), or one that ended or was stopped more than 4 months ago, with a new one after it."""
        coding = AMLODIPINE_TABS if self.rng.random() < 0.9 else AMLODIPINE_SOLN
        start = self.last_day - dt.timedelta(days=self.rng.randrange(400, 3000))
        if self.last_day < self.as_of or self.rng.random() < 0.7:
            end = None if self.last_day == self.as_of else self.last_day
            return self.authorisation(start, coding, end=end, status="active" if end is None else "completed")
        stop = self.as_of - dt.timedelta(days=self.rng.randrange(130, 300))
        if stop <= start:
            return self.authorisation(start, coding)
        self.authorisation(start, coding, end=stop, status=self.rng.choice(("completed", "stopped")))
        return self.authorisation(stop + dt.timedelta(days=self.rng.randrange(1, 20)), coding)

    def encounter(self, day, klass, coding, status="finished", based_on=None):
        start = self.rng.randrange(8 * 60, 18 * 60)
        length = self.rng.randrange(10, 40) if klass != "EMER" else self.rng.randrange(60, 300)
        end_day, end_min = day, start + length
        if end_min >= 24 * 60:
            end_day, end_min = day + dt.timedelta(days=1), end_min - 24 * 60
        return self.add(R.encounter(self.new_id(), R.stamp(day, start), R.stamp(end_day, end_min),
                                    klass, coding, status, based_on))

    def referral(self, day, coding, priority="routine", status="active", seen_on=None,
                 seen_status="finished", seen_coding=None):
        """A ServiceRequest; ``seen_on`` adds the encounter that carried it out (Encounter.basedOn).
        Only a finished encounter is an outcome; a planned or cancelled one is written but is not."""
        sr = self.add(R.service_request(self.new_id(), self.when(day), coding, priority, status))
        if seen_on is not None:
            self.encounter(seen_on, "AMB", seen_coding or ENC_REFERRAL_SEEN, seen_status, based_on=sr["id"])
            if seen_status == "finished":
                sr["outcome"] = seen_on.isoformat()
        return sr

    def issue(self, day, coding, status="completed", quantity=28, days=28, intent=None):
        """One medication issue (MedicationRequest, an order) on ``day``."""
        return self.add(R.medication(self.new_id(), day.isoformat(), coding,
                                     (day + dt.timedelta(days=days)).isoformat(), quantity, status,
                                     intent=intent or self.rng.choice(ISSUE_STYLES)))

    def authorisation(self, start, coding, end=None, status="active", style=None, supply_days=None,
                      quantity=28, authored=None):
        """A repeat authorisation (CLINICAL_RULES §0) covering from ``start``: to ``end`` when given,
        else to the run date while ``status`` is active, else its start day only.

        ``style`` is how the source says it is an authorisation: 'plan' (intent plan), 'continuous'
        (courseOfTherapyType continuous), 'repeat_dispensing' (continuous-repeat-dispensing), 'repeats'
        (numberOfRepeatsAllowed > 0) or 'active_order' (an order still active, as Synthea writes one);
        random when not given. ``authored``: authoredOn when it differs from the start (a template
        written before it came into force)."""
        styles = AUTH_STYLES if status == "active" else AUTH_STYLES[:-1]
        style = style or self.rng.choice(styles)
        kw = {"plan": {"intent": "plan"}, "continuous": {"course": "continuous"},
              "repeat_dispensing": {"course": "continuous-repeat-dispensing"},
              "repeats": {"repeats": self.rng.randrange(1, 12)}, "active_order": {}}[style]
        if style == "active_order" and status != "active":
            raise ValueError("an order is an authorisation only while active")
        authored_day = authored or (start - dt.timedelta(days=self.rng.randrange(0, 8)))
        return self.add(R.medication(self.new_id(), authored_day.isoformat(), coding,
                                     end.isoformat() if end else None, quantity, status,
                                     start=start.isoformat(), supply_days=supply_days,
                                     **{"intent": "order", **kw}))

    def proposal(self, day, coding):
        """A MedicationRequest that is neither an issue nor an authorisation (intent proposal)."""
        return self.add(R.medication(self.new_id(), day.isoformat(), coding, None, 28, "on-hold",
                                     intent="proposal"))

    def lab(self, day, coding, value, unit):
        return self.obs(day, coding, value, unit)
