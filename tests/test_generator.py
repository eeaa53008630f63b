"""The synthetic population generator: determinism, one population in three formats, the planted
scenarios, valid FHIR, and truth that follows from the written records."""
from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from engine.codes import normalise_system
from synthetic_data import generate
from synthetic_data.geography import lsoas
from synthetic_data.nhs_number import is_valid
from synthetic_data.cohorts import SCENARIOS, TRUTHS, UNASSIGNED_SCENARIO

N, SEED = 800, 7   # every scenario (about 320) fits in half the list
AS_OF = dt.date(2026, 3, 31)
FORMATS = ("fhir-ndjson", "fhir-bundles", "gp-extract")


@pytest.fixture(scope="module")
def outs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("gen")
    return {fmt: _gen(base / fmt, fmt) for fmt in FORMATS}


def _gen(path: Path, fmt: str, seed: int = SEED, n: int = N) -> Path:
    generate(path, n, seed=seed, fmt=fmt, as_of=AS_OF)
    return path


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _bundles(path: Path) -> list[Path]:
    return sorted(p for p in path.glob("*.json") if p.name != "generator.json")


def _ndjson(path: Path, rt: str) -> list[dict]:
    return [json.loads(line) for f in sorted(path.glob(f"{rt}*.ndjson")) for line in f.open()]


# -- determinism ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_gives_identical_bytes(outs, tmp_path, fmt):
    assert _tree(_gen(tmp_path / "again", fmt)) == _tree(outs[fmt])


def test_different_seed_gives_a_different_population(outs, tmp_path):
    other = _gen(tmp_path / "other", "gp-extract", seed=SEED + 1)
    assert (other / "patients.csv").read_bytes() != (outs["gp-extract"] / "patients.csv").read_bytes()
    assert (other / "truth.csv").read_bytes() != (outs["gp-extract"] / "truth.csv").read_bytes()


def test_same_population_in_every_format(outs):
    ids_ndjson = [r["id"] for r in _ndjson(outs["fhir-ndjson"], "Patient")]
    ids_bundles = sorted(p.stem for p in _bundles(outs["fhir-bundles"]))
    ids_extract = [r["patient_id"] for r in _csv(outs["gp-extract"] / "patients.csv")]
    assert len(ids_ndjson) == N
    assert ids_ndjson == ids_extract
    assert sorted(ids_ndjson) == ids_bundles
    for name in ("truth.csv", "near_misses.csv"):
        assert len({(outs[f] / name).read_bytes() for f in FORMATS}) == 1


# -- FHIR maps back to exactly the GP-extract rows --------------------------------------------

def _date(text):
    if not text:
        return ""
    t = text[:10]
    return t + ("-01-01" if len(t) == 4 else "-01" if len(t) == 7 else "")


def _num(v):
    return "" if v is None else (str(int(v)) if float(v).is_integer() else repr(float(v)))


def _events_from_fhir(resources) -> set[tuple]:
    """A direct reading of engine/schema.py's mapping rules, independent of the generator."""
    rows = set()
    for r in resources:
        pid = r["subject"]["reference"].split("/")[-1].replace("urn:uuid:", "")
        sid = f"{r['resourceType']}/{r['id']}"
        if r["resourceType"] == "Observation":
            status = "entered-in-error" if r["status"] in ("entered-in-error", "cancelled") else "active"
            day = _date(r["effectiveDateTime"])
            vq = r.get("valueQuantity") or {}
            parts = [(r["code"], vq)] + [(c["code"], c.get("valueQuantity") or {}) for c in r.get("component", [])]
            for code, q in parts:
                for c in code["coding"]:
                    rows.add((sid, pid, day, normalise_system(c["system"]), c["code"], c["display"],
                              _num(q.get("value")), q.get("unit") or "", "observation", status))
        elif r["resourceType"] == "Condition":
            ver = r["verificationStatus"]["coding"][0]["code"]
            clin = (r.get("clinicalStatus") or {"coding": [{"code": ""}]})["coding"][0]["code"]
            onset = _date(r.get("onsetDateTime") or r.get("recordedDate"))
            for c in r["code"]["coding"]:
                key = (sid, pid, None, normalise_system(c["system"]), c["code"], c["display"], "", "", "condition")
                if ver in ("refuted", "entered-in-error"):
                    rows.add(key[:2] + (onset,) + key[3:] + (ver,))
                    continue
                rows.add(key[:2] + (onset,) + key[3:] + ("active",))
                if clin in ("inactive", "resolved", "remission") or r.get("abatementDateTime"):
                    end = _date(r.get("abatementDateTime") or r.get("recordedDate") or r.get("onsetDateTime"))
                    rows.add(key[:2] + (end,) + key[3:] + ("resolved",))
        elif r["resourceType"] == "Procedure":
            status = {"not-done": "refuted", "entered-in-error": "entered-in-error"}.get(r["status"], "active")
            for c in r["code"]["coding"]:
                rows.add((sid, pid, _date(r["performedDateTime"]), normalise_system(c["system"]), c["code"],
                          c["display"], "", "", "procedure", status))
    return rows


def _events_from_extract(path: Path) -> set[tuple]:
    return {(r["event_id"], r["patient_id"], r["date"], normalise_system(r["system"]), r["code"], r["display"],
             r["value"], r["unit"], r["kind"], r["status"]) for r in _csv(path / "events.csv")}


def test_fhir_ndjson_and_bundles_map_to_the_extract_rows(outs):
    want = _events_from_extract(outs["gp-extract"])
    nd = [r for rt in ("Observation", "Condition", "Procedure") for r in _ndjson(outs["fhir-ndjson"], rt)]
    assert _events_from_fhir(nd) == want
    bundles = [e["resource"] for p in _bundles(outs["fhir-bundles"])
               for e in json.loads(p.read_text())["entry"]
               if e["resource"]["resourceType"] in ("Observation", "Condition", "Procedure")]
    assert _events_from_fhir(bundles) == want


ORDER_INTENTS = ("order", "original-order", "instance-order", "filler-order")


def _extract_medications_from_fhir(resources) -> set[tuple]:
    """CLINICAL_RULES §0 read straight off the MedicationRequests, independent of the generator: an
    issue is one extract row; an authorisation (intent plan, a continuous course, repeats allowed, or
    active) is the issues it implied: from its start every supply period (28 days) while it covers
    (to its end; without one, to as_of while active, else its start day only); cancelled, draft and
    entered-in-error ones, and requests that are neither (a proposal), are not in the extract."""
    rows = set()
    for r in resources:
        sid = f"MedicationRequest/{r['id']}"
        code = r["medicationCodeableConcept"]["coding"][0]["code"]
        dispense = r.get("dispenseRequest") or {}
        period = dispense.get("validityPeriod") or {}
        qty = _num(dispense["quantity"]["value"])
        course = {c["code"] for c in (r.get("courseOfTherapyType") or {}).get("coding", [])}
        if (r["intent"] == "plan" or course & {"continuous", "continuous-repeat-dispensing"}
                or dispense.get("numberOfRepeatsAllowed", 0) > 0 or r["status"] == "active"):
            if r["status"] in ("cancelled", "draft", "entered-in-error"):
                continue
            start = dt.date.fromisoformat(_date(period.get("start") or r["authoredOn"]))
            end = period.get("end")
            last = dt.date.fromisoformat(_date(end)) if end else AS_OF if r["status"] == "active" else start
            step = dt.timedelta(days=(dispense.get("expectedSupplyDuration") or {}).get("value") or 28)
            day, n = start, 1
            while day <= min(max(last, start), AS_OF):
                rows.add((f"{sid}/issue-{n}", day.isoformat(), code, (day + step).isoformat(), "completed", qty))
                day, n = day + step, n + 1
        elif r["intent"] in ORDER_INTENTS:
            rows.add((sid, _date(r.get("authoredOn") or period.get("start")), code, _date(period.get("end")),
                      r["status"], qty))
    return rows


def test_other_tables_match_across_formats(outs):
    requests = _ndjson(outs["fhir-ndjson"], "MedicationRequest")
    assert _extract_medications_from_fhir(requests) == {
        (r["issue_id"], r["date"], r["code"], r["end_date"], r["status"], r["quantity"])
        for r in _csv(outs["gp-extract"] / "medications.csv")}
    enc = {(f"Encounter/{r['id']}", _date(r["period"]["start"]), r["class"]["code"], r["type"][0]["coding"][0]["code"])
           for r in _ndjson(outs["fhir-ndjson"], "Encounter")}
    from synthetic_data.records import ENCOUNTER_CLASS
    cls = {v: k for k, v in ENCOUNTER_CLASS.items()}
    assert enc == {(r["encounter_id"], r["start"], cls[r["class"]], r["code"])
                   for r in _csv(outs["gp-extract"] / "encounters.csv")}
    refs = {(f"ServiceRequest/{r['id']}", _date(r["authoredOn"]), r["priority"], r["status"])
            for r in _ndjson(outs["fhir-ndjson"], "ServiceRequest")}
    assert refs == {(r["referral_id"], r["date"], r["priority"], r["status"])
                    for r in _csv(outs["gp-extract"] / "referrals.csv")}
    pats = {r["id"]: r for r in _ndjson(outs["fhir-ndjson"], "Patient")}
    for row in _csv(outs["gp-extract"] / "patients.csv"):
        fh = pats[row["patient_id"]]
        assert fh["identifier"][0]["value"] == row["nhs_number"]
        assert fh["birthDate"] == row["birth_date"] and fh["gender"] == row["sex"]
        assert fh.get("deceasedDateTime", "") == row["death_date"]
        assert fh["generalPractitioner"][0]["identifier"]["value"] == row["practice_id"]
        period = fh["extension"][0]["valuePeriod"]
        assert (period["start"], period.get("end", "")) == (row["registration_start"], row["registration_end"])


def test_repeat_authorisations_in_every_style(outs):
    """§0: the FHIR layouts say an authorisation in each way a source does; the GP extract has issues only."""
    requests = _ndjson(outs["fhir-ndjson"], "MedicationRequest")
    courses = {c["code"] for r in requests for c in (r.get("courseOfTherapyType") or {}).get("coding", [])}
    assert {"continuous", "continuous-repeat-dispensing"} <= courses
    assert {r["intent"] for r in requests} >= {"order", "original-order", "instance-order", "filler-order", "plan",
                                               "proposal"}
    assert any(r["dispenseRequest"].get("numberOfRepeatsAllowed", 0) > 0 for r in requests)
    assert any(r["dispenseRequest"].get("expectedSupplyDuration") for r in requests)
    assert any(r["status"] == "active" and r["intent"] == "order" and "courseOfTherapyType" not in r
               and not r["dispenseRequest"].get("numberOfRepeatsAllowed") for r in requests)   # Synthea's style
    assert {r["status"] for r in requests if r["intent"] == "plan"} >= {"active", "completed", "stopped"}
    assert any("end" not in r["dispenseRequest"].get("validityPeriod", {}) for r in requests)
    extract = _csv(outs["gp-extract"] / "medications.csv")
    assert any("/issue-" in r["issue_id"] for r in extract)
    summary = json.loads((outs["gp-extract"] / "generator.json").read_text())
    assert summary["layout_mismatches"] == []


def _current_address(patient: dict) -> dict:
    """CLINICAL_RULES §2/§9 restated: use not 'old' and no period.end; among several the home one."""
    current = [a for a in patient["address"] if a.get("use") != "old" and not (a.get("period") or {}).get("end")]
    return next((a for a in current if a.get("use") == "home"), current[0])


def test_only_the_current_address_is_in_the_extract(outs):
    from engine.fhir_conventions import CARE_HOME_EXTENSION, LSOA_EXTENSION
    patients = {r["id"]: r for r in _ndjson(outs["fhir-ndjson"], "Patient")}
    moved = [p for p in patients.values() if len(p["address"]) > 1]
    assert moved and {p["address"][0].get("use") for p in moved} == {"old", "home"}
    ext = lambda a, url: next(e for e in a["extension"] if e["url"] == url)   # noqa: E731
    old_care_home = 0
    for row in _csv(outs["gp-extract"] / "patients.csv"):
        address = _current_address(patients[row["patient_id"]])
        assert ext(address, LSOA_EXTENSION)["valueString"] == row["lsoa_code"]
        assert str(ext(address, CARE_HOME_EXTENSION)["valueBoolean"]).lower() == row["care_home"]
        old_care_home += any(ext(a, CARE_HOME_EXTENSION)["valueBoolean"] for a in patients[row["patient_id"]]["address"]
                             if a is not address) and row["care_home"] == "false"
    assert old_care_home > 0


# -- the population ---------------------------------------------------------------------------

def test_every_scenario_is_planted_with_its_band(outs):
    out = outs["gp-extract"]
    rows = _csv(out / "truth.csv")
    truth = {(r["patient_id"], r["cohort"]): r for r in rows}
    near = _csv(out / "near_misses.csv")
    by_scenario = {}
    for r in rows:
        if r["scenario"] != "background":
            by_scenario.setdefault(r["scenario"], set()).add((r["cohort"], r["band"]))
        else:
            by_scenario.setdefault("background", set()).add((r["cohort"], r["band"]))
    for s in SCENARIOS + [UNASSIGNED_SCENARIO]:
        if s.band:
            assert by_scenario.get(s.name) == {(s.cohort, s.band)}, s.name
    assert {r["scenario"] for r in near} == {s.name for s in SCENARIOS if s.band is None}
    assert not {(r["patient_id"], r["cohort"]) for r in near} & set(truth)
    assert {r["cohort"] for r in rows} <= set(TRUTHS)
    assert json.loads((out / "generator.json").read_text())["scenario_mismatches"] == []
    assert "background" in by_scenario                       # background positives exist too
    assert {r["pcn_id"] for r in rows if r["scenario"] == UNASSIGNED_SCENARIO.name} == {"UNASSIGNED"}


def test_tiny_population_still_plants_scenarios(tmp_path):
    summary = generate(tmp_path / "tiny", 30, seed=3, fmt="gp-extract", as_of=AS_OF)
    assert summary["counts"]["scenarios"] and summary["scenario_mismatches"] == []


def test_leap_day_as_of(tmp_path):
    out = tmp_path / "leap"
    summary = generate(out, 300, seed=11, fmt="gp-extract", as_of=dt.date(2024, 2, 29))
    assert summary["scenario_mismatches"] == [] and summary["as_of"] == "2024-02-29"
    assert not (tmp_path / "leap.partial").exists()


def test_nhs_numbers_are_valid_and_unique(outs):
    numbers = [r["nhs_number"] for r in _csv(outs["gp-extract"] / "patients.csv")]
    assert all(is_valid(n) and n.startswith("999") for n in numbers)
    assert len(set(numbers)) == len(numbers)
    assert is_valid("9434765919") and not is_valid("9434765918")


def test_practices_pcns_and_geography(outs):
    out = outs["gp-extract"]
    practices = _csv(out / "practices.csv")
    assert all(len(p["practice_id"]) == 6 and p["practice_id"][0].isalpha() and p["practice_id"][1:].isdigit()
               for p in practices)
    pcns = {p["pcn_id"] for p in practices if p["pcn_id"]}
    assert all(p.startswith("U") and len(p) == 6 and p[1:].isdigit() for p in pcns)
    per_pcn = pd.Series([p["pcn_id"] for p in practices if p["pcn_id"]]).value_counts()
    assert per_pcn.between(2, 6).all()
    assert sum(1 for p in practices if not p["pcn_id"]) == 1
    patients = pd.DataFrame(_csv(out / "patients.csv"))
    no_pcn = {p["practice_id"] for p in practices if not p["pcn_id"]}
    assert patients["practice_id"].isin(no_pcn).sum() >= 1
    table = {code: d for code, _, d in lsoas()}
    assert patients["lsoa_code"].isin(table.keys()).all()
    conf = Path(__file__).resolve().parents[1] / "conf" / "lsoa_imd.csv"
    assert [tuple(r.values()) for r in _csv(conf)] == [(c, n, str(d)) for c, n, d in lsoas()]


def test_every_resource_type_and_bp_style_appears(outs):
    out = outs["fhir-ndjson"]
    types = {p.name.split(".")[0] for p in out.glob("*.ndjson")}
    assert types == {"Patient", "Organization", "Observation", "Condition", "Procedure",
                     "MedicationRequest", "Encounter", "ServiceRequest"}
    codes = {c["code"] for o in _ndjson(out, "Observation") for c in o["code"]["coding"]}
    assert {"72313002", "271649006", "85354-9", "75367002", "413606001", "335661000000109"} <= codes
    enc = {e["class"]["code"] for e in _ndjson(out, "Encounter")}
    assert {"AMB", "EMER"} <= enc


def test_ethnicity_mix_is_england_like(tmp_path):
    from synthetic_data.people import Ethnicity
    from synthetic_data.vocab import Vocab
    import random
    eth, rng = Ethnicity(Vocab().rows("ethnicity")), random.Random(1)
    groups = pd.Series([eth.group(eth.sample(rng, 1.0)[1]) for _ in range(20000)]).value_counts(normalize=True)
    assert 0.77 < groups["White"] < 0.85 and 0.07 < groups["Asian"] < 0.13 and 0.03 < groups["Black"] < 0.06


# -- FHIR validity ----------------------------------------------------------------------------

def test_sample_of_each_resource_type_validates_as_r4(outs):
    from fhir.resources.R4B import get_fhir_model_class
    seen = set()
    for f in sorted(outs["fhir-ndjson"].glob("*.ndjson")):
        for line in list(f.open())[:40]:
            obj = json.loads(line)
            get_fhir_model_class(obj["resourceType"]).model_validate(obj)
            seen.add(obj["resourceType"])
    for path in _bundles(outs["fhir-bundles"])[:5]:
        get_fhir_model_class("Bundle").model_validate(json.loads(path.read_text()))
    assert len(seen) == 8


def test_bundle_references_resolve_inside_the_bundle(outs):
    def refs(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "reference":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(o, list):
            for v in o:
                yield from refs(v)

    for p in _bundles(outs["fhir-bundles"]):
        bundle = json.loads(p.read_text())
        full = {e["fullUrl"] for e in bundle["entry"]}
        assert all(e["fullUrl"] == f"urn:uuid:{e['resource']['id']}" for e in bundle["entry"])
        found = list(refs(bundle))
        assert found and all(r.startswith("urn:uuid:") and r in full for r in found), p.name
        assert bundle["entry"][0]["resource"]["id"] == p.stem


# -- truth follows from the written records ---------------------------------------------------

def _codes(name):
    """The generator's own list (synthetic_data/codes): this file checks that the truth follows from the
    written rows; whether conf/codelists agrees with those codes is tests/test_answer_key.py's question."""
    from types import SimpleNamespace

    from synthetic_data.vocab import Vocab
    rows = Vocab().rows(name)
    return SimpleNamespace(rows=rows, codes=lambda: [r["code"] for r in rows])


def _rule_from_extract(out: Path) -> dict[str, str]:
    """CLINICAL_RULES §3 in pandas over the written CSVs: patient_id → band for everyone listed."""
    c = {n: set(_codes(n).codes()) for n in ("hypertension", "hypertension_resolved", "bp_systolic",
                                              "bp_diastolic", "pregnancy", "palliative", "diabetes",
                                              "diabetes_resolved", "egfr", "bmi", "chd", "stroke_tia", "pad")}
    home = {r["code"] for n in ("bp_systolic", "bp_diastolic", "bp_home") for r in _codes(n).rows
            if r.get("setting") in ("home", "abpm")}
    eth = {r["code"]: (r["group"], r["category"]) for r in _codes("ethnicity").rows}
    asof = pd.Timestamp(AS_OF)
    pats = pd.read_csv(out / "patients.csv", dtype=str, keep_default_na=False)
    ev = pd.read_csv(out / "events.csv", dtype={"code": str}, parse_dates=["date"])
    ev = ev[~ev["status"].isin(["refuted", "entered-in-error"]) & (ev["date"] <= asof)]
    by_pid = dict(tuple(ev.groupby("patient_id")))
    listed = {}
    for p in pats.itertuples():
        birth = pd.Timestamp(p.birth_date)
        age = AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))
        if age < 18 or (p.death_date and pd.Timestamp(p.death_date) <= asof) \
                or (p.registration_end and pd.Timestamp(p.registration_end) <= asof) \
                or pd.Timestamp(p.registration_start) > asof or p.patient_id not in by_pid:
            continue
        e = by_pid[p.patient_id]

        def on_register(diag, res=None):
            d = e[e["code"].isin(c[diag]) & (e["status"] == "active")]["date"]
            if d.empty:
                return False
            r = e[(e["code"].isin(c[res] if res else set()) & (e["status"] == "active"))
                  | (e["code"].isin(c[diag]) & (e["status"] == "resolved"))]["date"]
            return not (r >= d.max()).any()

        if on_register("hypertension", "hypertension_resolved") or e["code"].isin(c["palliative"]).any() \
                or (e["code"].isin(c["pregnancy"]) & (e["date"] >= asof - pd.Timedelta(days=294))).any():
            continue
        w = e[e["date"] >= asof - pd.DateOffset(months=24)]
        s = w[w["code"].isin(c["bp_systolic"])].groupby("date")["value"].min()
        d = w[w["code"].isin(c["bp_diastolic"])].groupby("date")["value"].min()
        days = sorted(set(s.index) & set(d.index))
        if not days:
            continue
        day = days[-1]
        sv, dv = s[day], d[day]
        is_home = w[(w["date"] == day) & w["code"].isin(home)].shape[0] > 0
        t = [(170, 115), (150, 95), (135, 85)] if is_home else [(180, 120), (160, 100), (140, 90)]
        band = next((b for b, (ts, td) in zip(("severe", "stage 2", "stage 1"), t) if sv >= ts or dv >= td), None)
        if band != "stage 1":
            if band:
                listed[p.patient_id] = band
            continue
        ethn = e[e["code"].isin(eth.keys())].copy()
        ethn = ethn[ethn["code"].map(lambda x: eth[x][0]) != "Not stated"].sort_values("date")
        grp, cat = eth[ethn["code"].iloc[-1]] if len(ethn) else ("", "")

        def latest(name):
            v = e[e["code"].isin(c[name])].sort_values("date")["value"]
            return v.iloc[-1] if len(v) else None

        egfr, bmi = latest("egfr"), latest("bmi")
        risk = (grp == "Black" or cat in ("Indian", "Pakistani", "Bangladeshi")
                or on_register("diabetes", "diabetes_resolved")
                or (egfr is not None and egfr < 60) or (bmi is not None and bmi > 35)
                or any(on_register(name) for name in ("chd", "stroke_tia", "pad")))
        listed[p.patient_id] = "stage 1 with risk factor" if risk else "stage 1"
    return listed


def test_truth_is_exactly_what_the_written_records_imply(outs):
    """An independent pandas reading of §3 over the GP-extract CSVs gives the same list and bands."""
    out = outs["gp-extract"]
    truth = pd.read_csv(out / "truth.csv")
    truth = truth[truth["cohort"] == "hypertension"]
    assert _rule_from_extract(out) == dict(zip(truth["patient_id"], truth["band"]))
    assert set(truth["band"]) == {"severe", "stage 2", "stage 1 with risk factor", "stage 1"}


def test_risk_factor_values_in_the_extract(outs):
    out = outs["gp-extract"]
    ev = pd.read_csv(out / "events.csv", dtype={"code": str}, parse_dates=["date"])
    truth = pd.read_csv(out / "truth.csv")
    truth = truth[truth["cohort"] == "hypertension"]

    def latest(scenario, unit):
        pid = truth[truth["scenario"] == scenario]["patient_id"].iloc[0]
        e = ev[(ev["patient_id"] == pid) & (ev["unit"] == unit)].sort_values("date")
        return e["value"].iloc[-1], truth[truth["scenario"] == scenario]["band"].iloc[0]

    assert latest("risk factor: eGFR 59", "mL/min/1.73m2") == (59, "stage 1 with risk factor")
    assert latest("no risk factor: eGFR 60", "mL/min/1.73m2") == (60, "stage 1")
    assert latest("risk factor: BMI 35.1", "kg/m2") == (35.1, "stage 1 with risk factor")
    assert latest("no risk factor: BMI 35.0", "kg/m2") == (35.0, "stage 1")


# -- arguments ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"n_patients": 0}, "n_patients"),
    ({"n_patients": 10, "fmt": "csv"}, "format"),
    ({"n_patients": 10, "seed": -1}, "seed"),
    ({"n_patients": 10, "as_of": "2026-03-31"}, "as_of"),
    ({"n_patients": 10, "n_pcns": 0}, "n_pcns"),
    ({"n_patients": 10, "n_pcns": 11}, "n_pcns"),
])
def test_bad_arguments_raise_value_error(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "x", **kwargs)


def test_refuses_a_non_empty_output_folder(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        generate(tmp_path, 10)


def test_chunked_ndjson_and_many_chunks(tmp_path, monkeypatch):
    import synthetic_data.api as api
    import synthetic_data.fhir_writer as fw
    import synthetic_data.population as pop
    monkeypatch.setattr(api, "NDJSON_CHUNKED_ABOVE", 10)
    monkeypatch.setattr(fw, "NDJSON_LINES_PER_FILE", 500)
    monkeypatch.setattr(pop, "CHUNK", 64)
    a = _gen(tmp_path / "a", "fhir-ndjson", n=300)
    assert (a / "Observation.000.ndjson").exists() and (a / "Observation.001.ndjson").exists()
    assert not (a / "Observation.ndjson").exists()
    assert sum(1 for _ in (a / "Patient.000.ndjson").open()) == 300
    assert _tree(_gen(tmp_path / "b", "fhir-ndjson", n=300)) == _tree(a)
    assert json.loads((a / "generator.json").read_text())["scenario_mismatches"] == []


def test_no_record_the_population_cannot_have(outs):
    """PSA only for men: a rule's data is never planted where the population lacks it."""
    out = outs["gp-extract"]
    psa = set(_codes("psa").codes())
    sex = {r["patient_id"]: r["sex"] for r in _csv(out / "patients.csv")}
    psa_rows = [r for r in _csv(out / "events.csv") if r["code"] in psa]
    assert psa_rows and {sex[r["patient_id"]] for r in psa_rows} == {"male"}
