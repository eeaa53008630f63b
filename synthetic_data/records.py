"""The generator's record model: resources that carry exactly what the canonical rows need.

Each clinical record is a small dict (``rt`` = FHIR resource type) holding its codings, the
dateTime string as the source will write it, values and statuses. ``canonical_rows`` turns one
into the rows of engine/schema.py by the mapping rules in its docstring; the FHIR writer and the
GP-extract writer both start from the same dicts, so every format maps back to the same rows, but
for one thing (CLINICAL_RULES §0): a FHIR repeat authorisation is one row (kind 'authorisation')
where a GP extract holds the issues it implied (``gp_extract_rows``).
Truth is computed from ``canonical_rows`` too: the answer key sees what the engine will see.
"""
from __future__ import annotations

import datetime as dt

# FHIR status → canonical events.status. A valid observation or procedure is "active": the
# canonical vocabulary has no "final" (schema: active / resolved / refuted / entered-in-error).
OBS_STATUS = {"final": "active", "amended": "active", "entered-in-error": "entered-in-error",
              "cancelled": "entered-in-error"}
PROC_STATUS = {"completed": "active", "not-done": "refuted", "entered-in-error": "entered-in-error"}
ENCOUNTER_CLASS = {"AMB": "ambulatory", "EMER": "emergency", "VR": "virtual", "HH": "home",
                   "IMP": "inpatient"}


def canon_date(text: str | None) -> dt.date | None:
    """The calendar date written in the source: first 10 chars; YYYY-MM → 1st; YYYY → 1 Jan."""
    if not text:
        return None
    t = text[:10]
    if len(t) == 4:
        t += "-01-01"
    elif len(t) == 7:
        t += "-01"
    return dt.date.fromisoformat(t)


def stamp(day: dt.date, minute_of_day: int | None) -> str:
    """A FHIR dateTime for a day: date only, or a time in UTC (never crossing midnight)."""
    if minute_of_day is None:
        return day.isoformat()
    h, m = divmod(minute_of_day, 60)
    return f"{day.isoformat()}T{h:02d}:{m:02d}:00+00:00"


def observation(rid, when, codings, value=None, unit=None, components=(), status="final"):
    """components: sequence of (codings, value, unit)."""
    return {"rt": "Observation", "id": rid, "when": when, "codings": list(codings), "value": value,
            "unit": unit, "components": [tuple(c) for c in components], "status": status}


def condition(rid, onset, codings, clinical="active", verification="confirmed", abatement=None,
              recorded=None):
    return {"rt": "Condition", "id": rid, "onset": onset, "codings": list(codings),
            "clinical": clinical, "verification": verification, "abatement": abatement,
            "recorded": recorded or onset}


def procedure(rid, when, codings, status="completed"):
    return {"rt": "Procedure", "id": rid, "when": when, "codings": list(codings), "status": status}


def medication(rid, authored, coding, end, quantity, status="completed", intent="order", start=None,
               repeats=None, course=None, supply_days=None):
    """A MedicationRequest as the source writes it: authoredOn ``authored``, intent, status,
    courseOfTherapyType ``course``, dispenseRequest.validityPeriod ``start`` (default: ``authored``)
    to ``end``, numberOfRepeatsAllowed ``repeats``, expectedSupplyDuration ``supply_days`` (days).
    Whether it is an issue or an authorisation follows from these fields (``medication_kind``)."""
    return {"rt": "MedicationRequest", "id": rid, "when": authored, "codings": [coding],
            "start": authored if start is None else start, "end": end, "quantity": quantity, "status": status,
            "intent": intent, "repeats": repeats, "course": course, "supply_days": supply_days}


# CLINICAL_RULES §0: issues and authorisations, as the canonical medications.kind says them.
ISSUE_INTENTS = ("order", "original-order", "instance-order", "filler-order")
CONTINUOUS_COURSES = ("continuous", "continuous-repeat-dispensing")
COURSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"
NEVER_ISSUED = ("cancelled", "draft", "entered-in-error")
DEFAULT_SUPPLY_DAYS = 28


def medication_kind(res: dict) -> str:
    """'authorisation' (intent plan, a continuous course, repeats allowed, or still active), else
    'issue' (an order of any kind, or no intent), else 'other' (a proposal: never counted)."""
    if (res["intent"] == "plan" or res["course"] in CONTINUOUS_COURSES or (res["repeats"] or 0) > 0
            or res["status"] == "active"):
        return "authorisation"
    if res["intent"] in (None, "", *ISSUE_INTENTS):
        return "issue"
    return "other"


def implied_issue_days(row: dict, as_of: dt.date) -> list[dt.date]:
    """The days a GP system would show issues for one canonical authorisation row: its start, then
    every ``supply_days`` (28 when not given) while it covers, up to ``as_of``. It covers to its end
    date; without one, to ``as_of`` while active, else (stopped, completed, ...) its start day only.
    A cancelled, draft or entered-in-error authorisation issued nothing."""
    if row["status"] in NEVER_ISSUED or row["date"] is None or row["date"] > as_of:
        return []
    last = row["end_date"] or (as_of if row["status"] == "active" else row["date"])
    last = min(max(last, row["date"]), as_of)
    step = dt.timedelta(days=row["supply_days"] or DEFAULT_SUPPLY_DAYS)
    days, day = [], row["date"]
    while day <= last:
        days.append(day)
        day += step
    return days


def encounter(rid, start, end, klass, coding, status="finished", based_on=None):
    """``based_on``: the id of the ServiceRequest this encounter carries out (Encounter.basedOn)."""
    return {"rt": "Encounter", "id": rid, "start": start, "end": end, "class": klass,
            "codings": [coding], "status": status, "based_on": based_on}


def service_request(rid, authored, coding, priority="routine", status="active"):
    """``outcome``: the start of the earliest finished encounter based on this request, set by the
    chart when it writes one; the GP extract carries it as ``outcome_date``, FHIR as the link."""
    return {"rt": "ServiceRequest", "id": rid, "when": authored, "codings": [coding],
            "priority": priority, "status": status, "outcome": None}


def _event(pid, day, coding, value, unit, kind, status, sid):
    return {"patient_id": pid, "date": day, "system": coding[0], "code": coding[1],
            "display": coding[2], "value": None if value is None else float(value), "unit": unit,
            "kind": kind, "status": status, "source_id": sid}


def canonical_rows(pid: str, res: dict) -> tuple[str, list[dict]]:
    """(canonical table, rows) for one resource, by the rules in engine/schema.py."""
    rt = res["rt"]
    sid = f"{rt}/{res['id']}"
    if rt == "Observation":
        day, status = canon_date(res["when"]), OBS_STATUS[res["status"]]
        rows = [_event(pid, day, c, res["value"], res["unit"] if res["value"] is not None else None,
                       "observation", status, sid) for c in res["codings"]]
        for codings, value, unit in res["components"]:
            rows += [_event(pid, day, c, value, unit, "observation", status, sid) for c in codings]
        return "events", rows
    if rt == "Condition":
        onset = canon_date(res["onset"] or res["recorded"])
        if res["verification"] in ("refuted", "entered-in-error"):
            return "events", [_event(pid, onset, c, None, None, "condition", res["verification"], sid)
                              for c in res["codings"]]
        rows = [_event(pid, onset, c, None, None, "condition", "active", sid) for c in res["codings"]]
        if res["clinical"] in ("inactive", "resolved", "remission") or res["abatement"]:
            end = canon_date(res["abatement"] or res["recorded"] or res["onset"])
            rows += [_event(pid, end, c, None, None, "condition", "resolved", sid) for c in res["codings"]]
        return "events", rows
    if rt == "Procedure":
        day = canon_date(res["when"])
        return "events", [_event(pid, day, c, None, None, "procedure", PROC_STATUS[res["status"]], sid)
                          for c in res["codings"]]
    if rt == "MedicationRequest":
        kind = medication_kind(res)
        # an issue is dated when issued (authoredOn, else its validity start); an authorisation
        # covers from its validity start (else authoredOn)
        first, second = (res["start"], res["when"]) if kind == "authorisation" else (res["when"], res["start"])
        return "medications", [
            {"patient_id": pid, "date": canon_date(first or second), "end_date": canon_date(res["end"]),
             "system": c[0], "code": c[1], "display": c[2], "status": res["status"].lower(),
             "quantity": float(res["quantity"]), "source_id": sid, "kind": kind,
             "supply_days": res["supply_days"]} for c in res["codings"]]
    if rt == "ServiceRequest":
        return "referrals", [
            {"patient_id": pid, "date": canon_date(res["when"]), "system": c[0], "code": c[1],
             "display": c[2], "priority": res["priority"], "status": res["status"],
             "outcome_date": canon_date(res.get("outcome")), "source_id": sid} for c in res["codings"]]
    if rt == "Encounter":
        klass = ENCOUNTER_CLASS[res["class"]]
        return "encounters", [
            {"patient_id": pid, "start": canon_date(res["start"]), "end": canon_date(res["end"]),
             "class": klass, "emergency": klass == "emergency", "system": c[0], "code": c[1],
             "source_id": sid} for c in res["codings"]]
    raise ValueError(f"unknown resource type {rt}")


def gp_extract_rows(pid: str, res: dict, as_of: dt.date) -> tuple[str, list[dict]]:
    """(table, rows) as the GP-extract layout carries one resource: as ``canonical_rows``, except
    that medication rows are issues only. An authorisation becomes the issues it implied
    (``implied_issue_days``), each with its own id (``<source id>/issue-<n>``); a request that is
    neither (a proposal) is not in the extract."""
    table, rows = canonical_rows(pid, res)
    if table != "medications":
        return table, rows
    out = []
    for row in rows:
        if row["kind"] == "issue":
            out.append(row | {"supply_days": None})
        elif row["kind"] == "authorisation":
            step = dt.timedelta(days=row["supply_days"] or DEFAULT_SUPPLY_DAYS)
            for n, day in enumerate(implied_issue_days(row, as_of), start=1):
                out.append(row | {"date": day, "end_date": day + step, "status": "completed", "kind": "issue",
                                  "supply_days": None, "source_id": f"{row['source_id']}/issue-{n}"})
    return table, out


def patient_row(p: dict) -> dict:
    """The canonical patients row, less the ethnicity columns ingest derives from events."""
    return {k: p[k] for k in ("patient_id", "nhs_number", "given_name", "family_name", "birth_date",
                              "sex", "death_date", "lsoa_code", "practice_id", "registration_start",
                              "registration_end")} | {
        "deceased": p["death_date"] is not None, "imd_decile": p["imd_decile"],
        "address_care_home": p["care_home"]}
