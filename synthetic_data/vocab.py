"""The generator's own vocabulary: the codes it writes, per list, from ``synthetic_data/codes/<list>.csv``.

The answer key must be able to disagree with the engine, so nothing here reads the engine's
``conf/codelists``: each file names the published list its rows come from (``# Source:`` lines),
holds the codes the generator writes with their terms and the attribute a rule needs (BP setting,
ethnicity group and category, cancer site, residence type, AF signal, drug), and deliberately
includes published members that CLINICAL_RULES.md does not list (the non-core members), which
the generator writes often: a code missing from a conf list then shows up as a wrong worklist.

A code may sit in several lists (a myocardial infarction is a CHD_COD code too; asthma is an eFI
respiratory deficit): each file lists every code it holds, so the truth functions see exactly the
memberships the published lists give.

``swap``: rows of a list sharing a swap group are interchangeable for the generator. ``Chart``
writes through ``Vocab.bound(rng)``, whose ``pick`` chooses at random among the group of the code
asked for (so non-core members are written as often as core ones); ``coding`` is always exact.

Codes outside any list (an amlodipine issue, an encounter type) are fixed below; their terms come
from the public UK examples in shared/fhir_samples or the SNOMED browser.
"""
from __future__ import annotations

import csv
import random
from functools import lru_cache
from pathlib import Path

from engine.codes import LOINC, RXNORM, SNOMED

Coding = tuple  # (system URI, code, display)

CODES_DIR = Path(__file__).resolve().parent / "codes"
SYSTEMS = {"snomedct": SNOMED, "snomed": SNOMED, "sct": SNOMED, "loinc": LOINC, "rxnorm": RXNORM}

AMLODIPINE_TABS = (SNOMED, "319283006", "Amlodipine 5mg tablets")
AMLODIPINE_SOLN = (SNOMED, "13892511000001100", "Amlodipine 5mg/5ml oral solution")  # NHS EPS examples
PARACETAMOL = (SNOMED, "322236009", "Paracetamol 500mg tablets")                        # NHS EPS examples
ENC_PROBLEM = (SNOMED, "185347001", "Encounter for problem")
ENC_FOLLOWUP = (SNOMED, "390906007", "Follow-up encounter")
ENC_REFERRAL_SEEN = ENC_FOLLOWUP        # the appointment a referral led to (Encounter.basedOn)
ENC_EMERGENCY = (SNOMED, "50849002", "Emergency room admission")
REF_CARDIOLOGY = (SNOMED, "183519002", "Referral to cardiology service")
PROC_ECG = (SNOMED, "29303009", "Electrocardiographic procedure")
# Written outside any list: they must be in no list the rules read (tests/test_answer_key.py checks conf).
# (ENC_EMERGENCY is in emergency_admission.csv, as Synthea's emergency code.)
FIXED_CODINGS = (AMLODIPINE_TABS, AMLODIPINE_SOLN, PARACETAMOL, ENC_PROBLEM, ENC_FOLLOWUP, PROC_ECG)

UCUM = "http://unitsofmeasure.org"
MMHG = "mm[Hg]"
EGFR_UNIT = "mL/min/1.73m2"
BMI_UNIT = "kg/m2"


def read_list(path: Path) -> tuple[str, tuple[dict, ...]]:
    """(source text, rows) of one vocabulary file; each row has code, term, system (a URI), its
    attribute columns and swap."""
    source, body = [], []
    with path.open(newline="", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                source.append(line.lstrip("#").strip())
            elif line.strip():
                body.append(line)
    rows = []
    for raw in csv.DictReader(body):
        r = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        r["system"] = SYSTEMS.get(r.get("system", "").lower(), r.get("system") or SNOMED)
        rows.append(r)
    return " ".join(source), tuple(rows)


class Vocab:
    """Codings by list and code; a missing list or code is an error, never a silent substitute."""

    def __init__(self, directory: str | Path | None = None):
        self._dir = Path(directory) if directory else CODES_DIR
        self._lists: dict = {}

    def names(self) -> list[str]:
        return sorted(p.stem for p in self._dir.glob("*.csv"))

    def source(self, name: str) -> str:
        self.rows(name)
        return self._lists[("source", name)]

    def rows(self, name: str) -> tuple[dict, ...]:
        if name not in self._lists:
            path = self._dir / f"{name}.csv"
            if not path.is_file():
                raise KeyError(f"the generator's vocabulary has no list {name} ({path})")
            self._lists[("source", name)], self._lists[name] = read_list(path)
        return self._lists[name]

    def pairs(self, name: str) -> frozenset[tuple[str, str]]:
        if ("pairs", name) not in self._lists:
            self._lists[("pairs", name)] = frozenset((r["system"], r["code"]) for r in self.rows(name))
        return self._lists[("pairs", name)]

    def coding(self, name: str, code: str) -> Coding:
        for r in self.rows(name):
            if r["code"] == code:
                return (r["system"], r["code"], r["term"])
        raise ValueError(f"code {code} is not in the generator's list {name}")

    def pick(self, name: str, *preferred: str) -> Coding:
        """The first preferred code in the list (an error when none is), else the list's first row."""
        preferred = tuple(p for p in preferred if p)
        codes = {r["code"] for r in self.rows(name)}
        for code in preferred:
            if code in codes:
                return self.coding(name, code)
        if preferred:
            raise ValueError(f"none of {', '.join(preferred)} is in the generator's list {name}")
        r = self.rows(name)[0]
        return (r["system"], r["code"], r["term"])

    def swap_group(self, name: str, code: str) -> list[Coding]:
        """The codings interchangeable with ``code`` in ``name`` (itself first; alone when it has no group)."""
        row = next(r for r in self.rows(name) if r["code"] == code)
        group = row.get("swap", "")
        others = [r for r in self.rows(name) if group and r.get("swap") == group and r is not row]
        return [(r["system"], r["code"], r["term"]) for r in [row, *others]]

    def setting_pairs(self, *settings: str) -> set[tuple[str, str]]:
        """(system, code) of BP codes recorded outside the clinic (home / ABPM)."""
        out = set()
        for name in ("bp_systolic", "bp_diastolic", "bp_home"):
            out |= {(r["system"], r["code"]) for r in self.rows(name) if r.get("setting") in settings}
        return out

    def bound(self, rng: random.Random) -> "BoundVocab":
        return BoundVocab(self, rng)


class BoundVocab:
    """A vocabulary whose ``pick`` swaps the asked-for code for a random member of its swap group
    (the chart's RNG, so deterministic by seed); everything else is the vocabulary's."""

    def __init__(self, vocab: Vocab, rng: random.Random):
        self.vocab, self.rng = vocab, rng

    def __getattr__(self, attr):
        return getattr(self.vocab, attr)

    def pick(self, name: str, *preferred: str) -> Coding:
        chosen = self.vocab.pick(name, *preferred)
        group = self.vocab.swap_group(name, chosen[1])
        return group[self.rng.randrange(len(group))] if len(group) > 1 else chosen


@lru_cache(maxsize=4)
def vocab(directory=None) -> Vocab:
    return Vocab(directory)


__all__ = ["Vocab", "BoundVocab", "vocab", "SNOMED", "LOINC", "RXNORM", "CODES_DIR", "FIXED_CODINGS"]
