"""What every cohort's answer key needs: the patient's canonical rows and the §0 definitions.

Plain Python over the rows the generator's records map to (``records.canonical_rows``), written
without looking at the engine, so a bug in a Spark cohort cannot hide behind the same bug here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from synthetic_data import records as R
from synthetic_data.people import add_months, age_on

IGNORED = ("refuted", "entered-in-error")
NOT_ISSUED = ("entered-in-error", "cancelled", "draft")
REFERRAL_NOT_MADE = ("entered-in-error", "revoked", "draft", "cancelled")

__all__ = ["Rows", "eligible", "on_register", "latest_value", "has_code", "issues", "issued", "add_months", "age_on",
           "current_medicines", "medicines_issued", "currently_on"]

DEFAULT_SUPPLY_DAYS = 28      # §0: one implied issue per started 28 days an authorisation covers


@dataclass
class Rows:
    """One patient's canonical rows by table, as ingest will produce them."""
    events: list[dict] = field(default_factory=list)
    medications: list[dict] = field(default_factory=list)
    referrals: list[dict] = field(default_factory=list)
    encounters: list[dict] = field(default_factory=list)

    @classmethod
    def from_resources(cls, pid: str, resources: list[dict]) -> "Rows":
        """The rows a FHIR source gives (a repeat authorisation is one row)."""
        rows = cls()
        for res in resources:
            table, out = R.canonical_rows(pid, res)
            getattr(rows, table).extend(out)
        return rows

    @classmethod
    def from_gp_extract(cls, pid: str, resources: list[dict], as_of: dt.date) -> "Rows":
        """The rows the GP-extract layout gives (an authorisation is the issues it implied)."""
        rows = cls()
        for res in resources:
            table, out = R.gp_extract_rows(pid, res, as_of)
            getattr(rows, table).extend(out)
        return rows

    def valid_events(self, as_of: dt.date) -> list[dict]:
        """Events that count: not refuted or entered in error, not after ``as_of``."""
        return [r for r in self.events if r["status"] not in IGNORED and r["date"] <= as_of]

    def medicines(self, as_of: dt.date, codes=None) -> list[dict]:
        """Medicine rows that count on ``as_of`` (CLINICAL_RULES §0), each with ``until``, the last day
        it covers: an issue its own date; an authorisation its end date, else ``as_of`` while active,
        else its start day only, never after ``as_of``. A request that is neither issue nor
        authorisation (a proposal), and cancelled, draft and entered-in-error rows, never count."""
        out = []
        for m in self.medications:
            if m["kind"] not in ("issue", "authorisation") or m["status"] in NOT_ISSUED or m["date"] > as_of:
                continue
            if codes is not None and (m["system"], m["code"]) not in codes:
                continue
            until = m["date"]
            if m["kind"] == "authorisation":
                end = m["end_date"] or (as_of if m["status"] == "active" else m["date"])
                until = min(as_of, max(m["date"], end))
            out.append(m | {"until": until})
        return out


def eligible(p: dict, as_of: dt.date, min_age: int = 18) -> bool:
    """CLINICAL_RULES §0: registered and alive on ``as_of``, at least ``min_age``."""
    if p["registration_start"] and p["registration_start"] > as_of:
        return False
    if p["registration_end"] and p["registration_end"] <= as_of:
        return False
    if p["death_date"] and p["death_date"] <= as_of:
        return False
    return age_on(p["birth_date"], as_of) >= min_age


def on_register(events: list[dict], codes, resolved_codes=frozenset()) -> dt.date | None:
    """The latest diagnosis date, when no resolution is on or after it; else None.

    ``events`` must already be the valid ones (``Rows.valid_events``)."""
    diag = [r["date"] for r in events if (r["system"], r["code"]) in codes and r["status"] == "active"]
    if not diag:
        return None
    latest = max(diag)
    resolved = any(r["date"] >= latest for r in events
                   if ((r["system"], r["code"]) in resolved_codes and r["status"] == "active")
                   or ((r["system"], r["code"]) in codes and r["status"] == "resolved"))
    return None if resolved else latest


def has_code(events: list[dict], codes, since: dt.date | None = None) -> dt.date | None:
    """The latest active row with a code in ``codes`` (on or after ``since``), else None."""
    found = [r["date"] for r in events if (r["system"], r["code"]) in codes and r["status"] == "active"
             and (since is None or r["date"] >= since)]
    return max(found) if found else None


def latest_value(events: list[dict], codes, since: dt.date | None = None):
    """(date, value) of the latest valued row in ``codes`` (highest value on a tie), else None."""
    found = [(r["date"], r["value"]) for r in events
             if (r["system"], r["code"]) in codes and r["value"] is not None and r["status"] == "active"
             and (since is None or r["date"] >= since)]
    return max(found) if found else None


def issued(rows: Rows, as_of: dt.date, codes, since: dt.date) -> list[dict]:
    """Rows of a medicine "issued" from ``since`` to ``as_of``: an issue dated in the window, or an
    authorisation covering any day of it."""
    return [m for m in rows.medicines(as_of, codes) if m["until"] >= since]


def issues(rows: Rows, as_of: dt.date, codes, since: dt.date) -> int:
    """Issues from ``since`` to ``as_of`` plus implied issues: an authorisation implies one issue per
    started ``supply_days`` (28 when not given) of the days it covers inside the window. One
    prescription coded twice counts once."""
    per_prescription = {}
    for m in issued(rows, as_of, codes, since):
        n = 1
        if m["kind"] == "authorisation":
            covered = (m["until"] - max(m["date"], since)).days + 1
            n = -(-covered // (m["supply_days"] or DEFAULT_SUPPLY_DAYS))
        per_prescription[m["source_id"]] = n
    return sum(per_prescription.values())


def _current(m: dict, as_of: dt.date, days: int) -> bool:
    if m["kind"] == "authorisation":
        return m["until"] >= as_of
    return m["date"] >= as_of - dt.timedelta(days=days)


def currently_on(rows: Rows, as_of: dt.date, codes, days: int = 90) -> bool:
    """An issue in the last ``days`` days, or an authorisation covering ``as_of``."""
    return any(_current(m, as_of, days) for m in rows.medicines(as_of, codes))


def _distinct(rows: list[dict]) -> int:
    """Distinct medicines: per prescription its smallest (system, code), so a dual-coded one counts once."""
    per = {}
    for m in rows:
        key = (m["system"], m["code"])
        per[m["source_id"]] = min(per.get(m["source_id"], key), key)
    return len(set(per.values()))


def current_medicines(rows: Rows, as_of: dt.date, days: int = 90) -> int:
    """Distinct medicines currently on: issued in the last ``days`` days or authorised on ``as_of``."""
    return _distinct([m for m in rows.medicines(as_of) if _current(m, as_of, days)])


def medicines_issued(rows: Rows, as_of: dt.date, since: dt.date) -> int:
    """Distinct medicines issued from ``since`` to ``as_of`` (an issue in the window or an
    authorisation covering a day of it)."""
    return _distinct([m for m in rows.medicines(as_of) if m["until"] >= since])
