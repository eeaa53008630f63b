"""The codes the generator writes, taken from conf/codelists so generator and cohorts agree.

Codes outside any codelist (medicines, encounter types, referrals, procedures) are fixed here;
their terms come from the public UK examples in shared/fhir_samples or the SNOMED browser.
"""
from __future__ import annotations

from functools import lru_cache

from engine.codelists import load_codelist
from engine.codes import LOINC, SNOMED

Coding = tuple  # (system URI, code, display)

AMLODIPINE_TABS = (SNOMED, "319283006", "Amlodipine 5mg tablets")
AMLODIPINE_SOLN = (SNOMED, "13892511000001100", "Amlodipine 5mg/5ml oral solution")  # NHS EPS examples
PARACETAMOL = (SNOMED, "322236009", "Paracetamol 500mg tablets")                        # NHS EPS examples
ENC_PROBLEM = (SNOMED, "185347001", "Encounter for problem")
ENC_FOLLOWUP = (SNOMED, "390906007", "Follow-up encounter")
ENC_REFERRAL_SEEN = ENC_FOLLOWUP        # the appointment a referral led to (Encounter.basedOn)
ENC_EMERGENCY = (SNOMED, "50849002", "Emergency room admission")
REF_CARDIOLOGY = (SNOMED, "183519002", "Referral to cardiology service")
PROC_ECG = (SNOMED, "29303009", "Electrocardiographic procedure")

UCUM = "http://unitsofmeasure.org"
MMHG = "mm[Hg]"
EGFR_UNIT = "mL/min/1.73m2"
BMI_UNIT = "kg/m2"


class Vocab:
    """Codings by list and code; a missing list or code is an error, never a silent substitute."""

    def __init__(self, directory=None):
        self._dir = directory
        self._lists: dict[str, object] = {}

    def rows(self, name: str) -> tuple[dict, ...]:
        if name not in self._lists:
            self._lists[name] = load_codelist(name, self._dir)
        return self._lists[name].rows

    def pairs(self, name: str) -> frozenset[tuple[str, str]]:
        if ("pairs", name) not in self._lists:
            self._lists[("pairs", name)] = frozenset((r["system"], r["code"]) for r in self.rows(name))
        return self._lists[("pairs", name)]

    def coding(self, name: str, code: str) -> Coding:
        for r in self.rows(name):
            if r["code"] == code:
                return (r["system"], r["code"], r["term"])
        raise ValueError(f"code {code} is not in codelist {name}")

    def pick(self, name: str, *preferred: str) -> Coding:
        """The first preferred code present in the list, else the list's first row."""
        codes = {r["code"] for r in self.rows(name)}
        for code in preferred:
            if code in codes:
                return self.coding(name, code)
        r = self.rows(name)[0]
        return (r["system"], r["code"], r["term"])

    def setting_pairs(self, *settings: str) -> set[tuple[str, str]]:
        """(system, code) of BP codes recorded outside the clinic (home / ABPM)."""
        out = set()
        for name in ("bp_systolic", "bp_diastolic", "bp_home"):
            out |= {(r["system"], r["code"]) for r in self.rows(name) if r.get("setting") in settings}
        return out


@lru_cache(maxsize=4)
def vocab(directory=None) -> Vocab:
    return Vocab(directory)


__all__ = ["Vocab", "vocab", "SNOMED", "LOINC"]
