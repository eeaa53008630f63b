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

__all__ = ["Rows", "eligible", "on_register", "latest_value", "has_code", "issues", "add_months", "age_on",
           "current_medicines"]


@dataclass
class Rows:
    """One patient's canonical rows by table, as ingest will produce them."""
    events: list[dict] = field(default_factory=list)
    medications: list[dict] = field(default_factory=list)
    referrals: list[dict] = field(default_factory=list)
    encounters: list[dict] = field(default_factory=list)

    @classmethod
    def from_resources(cls, pid: str, resources: list[dict]) -> "Rows":
        rows = cls()
        for res in resources:
            table, out = R.canonical_rows(pid, res)
            getattr(rows, table).extend(out)
        return rows

    def valid_events(self, as_of: dt.date) -> list[dict]:
        """Events that count: not refuted or entered in error, not after ``as_of``."""
        return [r for r in self.events if r["status"] not in IGNORED and r["date"] <= as_of]

    def issued(self, as_of: dt.date, codes, since: dt.date | None = None) -> list[dict]:
        return [m for m in self.medications
                if (m["system"], m["code"]) in codes and m["status"] not in NOT_ISSUED
                and m["date"] <= as_of and (since is None or m["date"] >= since)]


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


def issues(rows: Rows, as_of: dt.date, codes, since: dt.date | None = None) -> int:
    """Distinct medication issues (one prescription coded twice counts once)."""
    return len({m["source_id"] for m in rows.issued(as_of, codes, since)})


def current_medicines(rows: Rows, as_of: dt.date, days: int = 90, since: dt.date | None = None) -> int:
    """Distinct medicines issued from ``since`` (default: ``days`` days before) to ``as_of``: per
    issue its smallest (system, code)."""
    since = since or as_of - dt.timedelta(days=days)
    per_issue: dict[str, tuple] = {}
    for m in rows.medications:
        if m["status"] in NOT_ISSUED or not (since <= m["date"] <= as_of):
            continue
        key = (m["system"], m["code"])
        per_issue[m["source_id"]] = min(per_issue.get(m["source_id"], key), key)
    return len(set(per_issue.values()))
