"""CLINICAL_RULES §0, medicine issues and authorisations: one case per row of the definition.

Two halves, as the rule has two halves:
- what a FHIR MedicationRequest is (issue, authorisation, neither) and the days an authorisation
  covers, read at ingest into the canonical medications table (``kind``, ``date``, ``end_date``,
  ``supply_days``);
- what the rules ask of a medicine on a run date (currently on; issued in a window; issues in a
  window counting implied ones; the sentence a clinician reads), from ``engine.features.rows``.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from builders import AS_OF, months_ago
from engine.codes import SNOMED
from engine.features import rows as R
from engine.ingest import ingest
from spec import Spec

APIXABAN = (SNOMED, "703908001")
D = dt.date


# --- the canonical row a MedicationRequest becomes ------------------------------------------------------

def _request(rid, status="completed", intent="order", authored="2025-01-10", **more) -> dict:
    r = {"resourceType": "MedicationRequest", "id": rid, "status": status, "intent": intent,
         "subject": {"reference": "Patient/p1"}, "authoredOn": authored,
         "medicationCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "703908001",
                                                   "display": "Apixaban 5mg tablets"}]}}
    r.update(more)
    return r


REQUESTS = {   # id → (resource, expected (kind, date, end_date, supply_days, status))
    "issue_completed": (_request("issue_completed"), ("issue", D(2025, 1, 10), None, None, "completed")),
    "issue_no_intent": ({k: v for k, v in _request("issue_no_intent").items() if k != "intent"},
                        ("issue", D(2025, 1, 10), None, None, "completed")),
    "filler_order": (_request("filler_order", intent="filler-order"), ("issue", D(2025, 1, 10), None, None,
                                                                       "completed")),
    "plan": (_request("plan", intent="plan"), ("authorisation", D(2025, 1, 10), None, None, "completed")),
    # Synthea: one long-lived active order per medicine
    "active_order": (_request("active_order", status="active"), ("authorisation", D(2025, 1, 10), None, None,
                                                                  "active")),
    "continuous": (_request("continuous", courseOfTherapyType={"coding": [{"code": "continuous"}]}),
                   ("authorisation", D(2025, 1, 10), None, None, "completed")),
    "repeats_allowed": (_request("repeats_allowed", status="stopped", dispenseRequest={
        "numberOfRepeatsAllowed": 5, "validityPeriod": {"start": "2025-02-01", "end": "2025-08-01"},
        "expectedSupplyDuration": {"value": 8, "unit": "weeks", "code": "wk"}}),
        ("authorisation", D(2025, 2, 1), D(2025, 8, 1), 56, "stopped")),
    "no_repeats": (_request("no_repeats", dispenseRequest={"numberOfRepeatsAllowed": 0}),
                   ("issue", D(2025, 1, 10), None, None, "completed")),
    # an issue is dated when it was issued, not when its validity starts
    "issue_validity": (_request("issue_validity", dispenseRequest={"validityPeriod": {"start": "2025-01-20"}}),
                       ("issue", D(2025, 1, 10), None, None, "completed")),
    "proposal": (_request("proposal", intent="proposal"), ("other", D(2025, 1, 10), None, None, "completed")),
}


@pytest.fixture(scope="module")
def canonical(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("meds")
    src = base / "in"
    src.mkdir()
    (src / "Patient.ndjson").write_text(json.dumps({"resourceType": "Patient", "id": "p1", "gender": "female",
                                                    "birthDate": "1950-01-01"}) + "\n")
    (src / "MedicationRequest.ndjson").write_text(
        "".join(json.dumps(res) + "\n" for res, _ in REQUESTS.values()))
    result = ingest(spark, src, None, base / "out")
    return {r["source_id"].split("/")[1]: r for r in result.tables["medications"].collect()}


@pytest.mark.parametrize("rid", list(REQUESTS))
def test_request_becomes(canonical, rid):
    r = canonical[rid]
    assert (r["kind"], r["date"], r["end_date"], r["supply_days"], r["status"]) == REQUESTS[rid][1]


# --- what a rule reads on the run date -------------------------------------------------------------------
# Each case: the patient's apixaban rows, then the expected
# (currently on, issued in the last 6 months, issues in the last 6 months counting implied ones, sentence).
SIX = months_ago(6)              # 2025-09-30: the window is 2025-09-30 .. 2026-03-31, 183 days
SPEC = Spec("medicines", age=70)
SPEC.add("issue_30_days_ago", (True, True, 1, f"issued on {AS_OF - dt.timedelta(days=30)}"),
         lambda p, pid: p.medication(pid, APIXABAN, AS_OF - dt.timedelta(days=30)))
SPEC.add("issue_100_days_ago", (False, True, 1, f"issued on {AS_OF - dt.timedelta(days=100)}"),
         lambda p, pid: p.medication(pid, APIXABAN, AS_OF - dt.timedelta(days=100)))
SPEC.add("issue_7_months_ago", (False, False, 0, None), lambda p, pid: p.medication(pid, APIXABAN, months_ago(7)))
# a standing order authored years ago and still active covers the whole window: 183 days → 7 issues
SPEC.add("active_since_2019", (True, True, 7, "repeat authorised since 2019-05-01, still active"),
         lambda p, pid: p.authorisation(pid, APIXABAN, D(2019, 5, 1)))
SPEC.add("active_with_future_end", (True, True, 7, "repeat authorised since 2025-01-01, still active"),
         lambda p, pid: p.authorisation(pid, APIXABAN, D(2025, 1, 1), end=D(2027, 1, 1)))
SPEC.add("ended_a_year_ago", (False, False, 0, None),
         lambda p, pid: p.authorisation(pid, APIXABAN, D(2020, 1, 1), end=months_ago(12), status="completed"))
# ended 29 days into the window: two started 28-day periods
SPEC.add("ended_29_days_into_window",
         (False, True, 2, f"repeat authorised 2020-01-01 to {SIX + dt.timedelta(days=28)}"),
         lambda p, pid: p.authorisation(pid, APIXABAN, D(2020, 1, 1), end=SIX + dt.timedelta(days=28), status="active"))
SPEC.add("ended_28_days_into_window",
         (False, True, 1, f"repeat authorised 2020-01-01 to {SIX + dt.timedelta(days=27)}"),
         lambda p, pid: p.authorisation(pid, APIXABAN, D(2020, 1, 1), end=SIX + dt.timedelta(days=27),
                                        status="stopped"))
# stopped with no date: only its start day is known to be covered
SPEC.add("stopped_no_date_in_window", (False, True, 1, f"repeat authorised {months_ago(2)} to {months_ago(2)}"),
         lambda p, pid: p.authorisation(pid, APIXABAN, months_ago(2), status="stopped"))
SPEC.add("stopped_no_date_before_window", (False, False, 0, None),
         lambda p, pid: p.authorisation(pid, APIXABAN, D(2019, 1, 1), status="stopped"))
SPEC.add("supply_56_days", (True, True, 4, "repeat authorised since 2019-05-01, still active"),
         lambda p, pid: p.authorisation(pid, APIXABAN, D(2019, 5, 1), supply_days=56))
SPEC.add("started_in_window", (True, True, 2, f"repeat authorised since {AS_OF - dt.timedelta(days=55)}, still active"),
         lambda p, pid: p.authorisation(pid, APIXABAN, AS_OF - dt.timedelta(days=55)))
SPEC.add("starts_after_run_date", (False, False, 0, None),
         lambda p, pid: p.authorisation(pid, APIXABAN, AS_OF + dt.timedelta(days=1)))
SPEC.add("cancelled", (False, False, 0, None),
         lambda p, pid: p.authorisation(pid, APIXABAN, D(2019, 5, 1), status="cancelled"))
SPEC.add("draft", (False, False, 0, None), lambda p, pid: p.authorisation(pid, APIXABAN, D(2019, 5, 1), status="draft"))
SPEC.add("entered_in_error", (False, False, 0, None),
         lambda p, pid: p.authorisation(pid, APIXABAN, D(2019, 5, 1), status="entered-in-error"))
SPEC.add("issue_and_authorisation", (True, True, 8, "repeat authorised since 2019-05-01, still active"),
         lambda p, pid: (p.medication(pid, APIXABAN, AS_OF - dt.timedelta(days=10)),
                         p.authorisation(pid, APIXABAN, D(2019, 5, 1))))


@SPEC.case((False, False, 0, None))
def proposal_never_counts(p, pid):
    p.authorisation(pid, APIXABAN, D(2019, 5, 1))
    p.rows["medications"][-1]["kind"] = "other"


@pytest.fixture(scope="module")
def read(spec_record):
    rx = "rx_anticoagulant_oral"
    out = SPEC.facts(spec_record).select(
        "patient_id", (F.size(R.current(rx, AS_OF, 90)) > 0).alias("current"),
        (F.size(R.issued(rx, SIX)) > 0).alias("issued"), R.issue_count(rx, SIX).alias("n"),
        R.taken_text(R.last_taken(rx, SIX), AS_OF).alias("text"),
        R.current_medicines(AS_OF, 90).alias("current_medicines"), R.medicines_since(SIX).alias("medicines_6m"))
    return {r["patient_id"].removeprefix(SPEC.prefix): r for r in out.collect()}


@pytest.mark.parametrize("pid", list(SPEC.cases))
def test_rule_reads(read, pid):
    r = read[pid]
    expected = SPEC.cases[pid].expected
    assert (r["current"], r["issued"], r["n"], r["text"]) == expected
    # one medicine: counted among current medicines exactly when currently on it, and in the window likewise
    assert (r["current_medicines"], r["medicines_6m"]) == (int(expected[0]), int(expected[1]))
