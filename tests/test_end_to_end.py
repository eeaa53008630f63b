"""End to end: generate → each of the three formats → run → worklists equal the generator's truth.

The generator plants every band and near miss of CLINICAL_RULES §3 and writes the truth from its own
knowledge of each patient; the engine never sees the truth. Recall and precision must both be 100%,
and the three formats must ingest to identical canonical tables (a GP extract's medications are issues:
there a FHIR repeat authorisation is the issues it implied). The truth's code lists are the generator's own
(synthetic_data/codes), never conf/codelists: tests/test_answer_key.py shows a wrong conf list fails here.

The runs are the suite's shared ones (tests/reference.py): FHIR NDJSON runs every cohort and trains the
model, the GP extract runs with that model given, the Bundles are ingested and their tables compared
with the NDJSON record's. That the same input gives the same bytes again is checked by a rerun in
another process (tests/test_safe_outputs.py).
"""
from __future__ import annotations

import csv
import datetime as dt
import json

import pytest

from engine.cohorts import COHORTS
from engine.pipeline import run
from engine.schema import TABLES
from reference import AS_OF, N_PATIENTS
from synthetic_data.cohorts import SCENARIOS

pytestmark = pytest.mark.e2e


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def runs(reference, gp_extract_run):
    """The format's shared run: (input, out, manifest)."""
    return {"fhir-ndjson": (reference.data, reference.out, reference.manifest),
            "gp-extract": (gp_extract_run.data, gp_extract_run.out, gp_extract_run.manifest)}


def listed(out_dir, manifest, cohort="hypertension"):
    rows = {}
    for pcn in manifest["pcns"]:
        for row in read_csv(out_dir / pcn / f"{cohort}.csv"):
            rows[row["patient_id"]] = (row["band"], pcn)
    return rows


def truth_of(data, cohort):
    return {r["patient_id"]: (r["band"], r["pcn_id"]) for r in read_csv(data / "truth.csv") if r["cohort"] == cohort}


@pytest.mark.parametrize("fmt", ["fhir-ndjson", "gp-extract"])
def test_every_worklist_equals_truth(runs, fmt):
    """Recall and precision 100% for every cohort and band, in both formats that run the pipeline (the
    Bundles' record equals the NDJSON one table by table: test_formats_give_identical_canonical_tables)."""
    data, out_dir, manifest = runs[fmt]
    problems = []
    for cohort in COHORTS:
        truth, got = truth_of(data, cohort), listed(out_dir, manifest, cohort)
        missed = sorted(set(truth) - set(got))
        extra = sorted(set(got) - set(truth))
        wrong = sorted(p for p in set(truth) & set(got) if truth[p] != got[p])
        if missed or extra or wrong:
            problems.append(f"{cohort}: missed {len(missed)}, extra {len(extra)}, wrong band/PCN {len(wrong)}; "
                            f"e.g. missed {missed[:2]} extra {extra[:2]} "
                            f"wrong {[(p, truth[p], got[p]) for p in wrong[:2]]}")
    assert not problems, f"{fmt}:\n" + "\n".join(problems)


def test_truth_covers_every_band_and_near_misses_are_absent(runs):
    data, out_dir, manifest = runs["fhir-ndjson"]
    truth = read_csv(data / "truth.csv")
    near = read_csv(data / "near_misses.csv")
    for cohort in COHORTS:
        planted = {s.band for s in SCENARIOS if s.cohort == cohort and s.band}
        assert planted, f"no scenario plants {cohort}"
        assert planted <= {r["band"] for r in truth if r["cohort"] == cohort}, cohort
        near_ids = {r["patient_id"] for r in near if r["cohort"] == cohort}
        assert near_ids, f"no near miss planted for {cohort}"
        assert not near_ids & set(listed(out_dir, manifest, cohort)), cohort
    assert {r["band"] for r in truth if r["cohort"] == "hypertension"} == \
        {"severe", "stage 2", "stage 1 with risk factor", "stage 1"}


@pytest.mark.parametrize("fmt", ["fhir-bundles", "gp-extract"])
def test_formats_give_identical_canonical_tables(spark, reference, bundles_record, gp_extract_run, fmt):
    """FHIR NDJSON and Bundles ingest to identical tables. The GP extract too, but for medications
    (CLINICAL_RULES §0): it holds issues only, so a FHIR repeat authorisation is there as the issues it
    implied, and a FHIR request that is neither issue nor authorisation (a proposal) is not there."""
    base = reference.out / "canonical"
    other = (bundles_record if fmt == "fhir-bundles" else gp_extract_run).out / "canonical"
    assert base.is_dir() and other.is_dir()
    for table, struct in TABLES.items():
        a = spark.read.schema(struct).parquet(str(base / table))
        b = spark.read.schema(struct).parquet(str(other / table))
        if fmt == "gp-extract" and table == "medications":
            _medications_account_for_each_other(a.toPandas(), b.toPandas())
            continue
        assert a.count() == b.count(), f"{table}: row counts differ for {fmt}"
        assert a.exceptAll(b).count() == 0 and b.exceptAll(a).count() == 0, f"{table}: rows differ for {fmt}"


ISSUE_COLUMNS = ("patient_id", "date", "end_date", "system", "code", "display", "status", "quantity", "source_id",
                 "kind", "supply_days")


def _implied_issues(row) -> list[tuple]:
    """§0 restated: the issues a GP system shows for one FHIR authorisation row (every supply period,
    28 days unless given, from its start while it covers: to its end date; without one, to as_of while
    active, else its start day only; none when cancelled, draft or entered in error)."""
    if row.status in ("cancelled", "draft", "entered-in-error") or row.date > AS_OF:
        return []
    last = row.end_date if row.end_date is not None else AS_OF if row.status == "active" else row.date
    step = dt.timedelta(days=int(row.supply_days) if row.supply_days == row.supply_days and row.supply_days else 28)
    out, day, n = [], row.date, 1
    while day <= min(max(last, row.date), AS_OF):
        out.append((row.patient_id, day, day + step, row.system, row.code, row.display, "completed", row.quantity,
                    f"{row.source_id}/issue-{n}", "issue", None))
        day, n = day + step, n + 1
    return out


def _medications_account_for_each_other(fhir, gp):
    def rows(df):
        return {tuple(None if v != v else v for v in r) for r in df[list(ISSUE_COLUMNS)].itertuples(index=False)}

    kinds = fhir["kind"].value_counts().to_dict()
    assert kinds.get("authorisation", 0) > 0 and kinds.get("other", 0) > 0, kinds
    assert set(gp["kind"]) == {"issue"} and gp["supply_days"].isna().all()
    issues = fhir[fhir["kind"] == "issue"]
    implied = gp["source_id"].str.contains("/issue-", regex=False)
    # every issue is the same row in both layouts
    assert rows(issues) == rows(gp[~implied]), "issue rows differ between FHIR and the GP extract"
    # every authorisation is exactly the issues it implied; a proposal is not in the extract
    expected = {r for a in fhir[fhir["kind"] == "authorisation"].itertuples(index=False) for r in _implied_issues(a)}
    assert expected == rows(gp[implied]), "authorisations and their implied GP issues differ"
    assert not set(fhir.loc[fhir["kind"] == "other", "source_id"]) & set(gp["source_id"].str.split("/issue-").str[0])


def test_worklist_is_ranked_and_readable(runs):
    data, out_dir, manifest = runs["fhir-ndjson"]
    order = {"severe": 1, "stage 2": 2, "stage 1 with risk factor": 3, "stage 1": 4}
    for pcn in manifest["pcns"]:
        rows = read_csv(out_dir / pcn / "hypertension.csv")
        assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
        keys = [(order[r["band"]], -float(r["systolic"]), int(r["days_since_reading"]), r["patient_id"]) for r in rows]
        assert keys == sorted(keys)
        for r in rows:
            assert len(r["nhs_number"]) == 12 and r["nhs_number"][3] == " " and r["nhs_number"][7] == " "
            assert r["reason"] and json.loads(r["evidence"])["bp_date"] == r["reading_date"]
            assert r["pcn_id"] == pcn


def test_unassigned_practice_goes_to_its_own_folder(runs):
    data, out_dir, manifest = runs["fhir-ndjson"]
    assert "UNASSIGNED" in manifest["pcns"]
    truth = [r for r in read_csv(data / "truth.csv") if r["pcn_id"] == "UNASSIGNED" and r["cohort"] == "hypertension"]
    assert truth
    assert {r["patient_id"] for r in truth} == {r["patient_id"] for r in read_csv(out_dir / "UNASSIGNED" / "hypertension.csv")}


def test_manifest_accounts_for_the_run(runs):
    data, out_dir, manifest = runs["gp-extract"]
    assert manifest["as_of"] == AS_OF.isoformat() and manifest["input"]["format"] == "gp-extract"
    assert manifest["cohorts"]["hypertension"]["listed"] == sum(manifest["cohorts"]["hypertension"]["by_pcn"].values())
    assert manifest["ingest"]["canonical_rows"]["patients"] == N_PATIENTS
    assert "pyspark" in manifest["versions"] and manifest["codelists"]["hypertension"]["sha256"]
    attrition = read_csv(out_dir / manifest["pcns"][0] / "attrition.csv")
    counts = [int(r["patients"]) for r in attrition if r["cohort"] == "hypertension"]
    assert not any("{" in r["description"] for r in attrition), "parameter placeholders must be filled in"
    assert any("last 24 months" in r["description"] for r in attrition)
    assert counts == sorted(counts, reverse=True) and counts[-1] == manifest["cohorts"]["hypertension"]["by_pcn"][manifest["pcns"][0]]


SYNTHEA = [("synthea_pathling_bundles", dt.date(2021, 4, 1), 10), ("bulk_smart_sample_10patients", dt.date(2023, 6, 1), 13)]


@pytest.mark.parametrize("folder,as_of,patients", SYNTHEA, ids=[s[0] for s in SYNTHEA])
def test_synthea_samples_run_through_every_cohort(spark, sample_ingests, tmp_path, folder, as_of, patients):
    """US Synthea data (no UK practice or PCN, RxNorm, LOINC, mg/dL), ingested once for the session
    (tests/samples.py) and evaluated as a stored record: every worklist under UNASSIGNED."""
    record = sample_ingests.record(folder)
    manifest = run(spark, None, as_of, tmp_path / "out", record=record)
    assert manifest["pcns"] == ["UNASSIGNED"]
    totals = manifest["ingest"]["totals"]
    assert totals["read"] == totals["ingested"] + totals["quarantined"] + totals["skipped"]
    assert manifest["ingest"]["canonical_rows"]["patients"] == patients
    attrition = read_csv(tmp_path / "out" / "UNASSIGNED" / "attrition.csv")
    # every cohort: each step counted, none grows
    assert {r["cohort"] for r in attrition} == set(COHORTS)
    for cohort in COHORTS:
        counts = [int(r["patients"]) for r in attrition if r["cohort"] == cohort]
        assert counts[0] > 0 and counts == sorted(counts, reverse=True), cohort
        listed_rows = read_csv(tmp_path / "out" / "UNASSIGNED" / f"{cohort}.csv")
        assert len(listed_rows) == counts[-1] == manifest["cohorts"][cohort]["listed"], cohort
    # Synthea writes cholesterol in mg/dL: converted at ingest to mmol/L
    lipids = (spark.read.parquet(str(record / "canonical" / "events"))
              .where("code in ('2093-3', '18262-6')").select("unit", "value").collect())
    assert {r["unit"] for r in lipids} <= {"mmol/L"} and all(1 < r["value"] < 15 for r in lipids)
    if folder == "synthea_pathling_bundles":
        assert lipids


def test_inequality_outputs_per_pcn(runs):
    """§9: a gap profile per PCN, and Core20PLUS patients drawn only from the case-finding worklists."""
    data, out_dir, manifest = runs["gp-extract"]
    case_finding = ("hypertension", "af_undiagnosed", "af_anticoagulation", "fh", "heart_failure",
                    "cancer_safety_netting")
    for pcn in manifest["pcns"]:
        profile = read_csv(out_dir / pcn / "gap_profile.csv")
        assert {r["cohort"] for r in profile} == set(case_finding)
        assert all(r["listed"] == "<8" or int(r["listed"]) % 5 == 0 for r in profile)
        equity = read_csv(out_dir / pcn / "inequalities.csv")
        needing = {r["patient_id"] for c in case_finding for r in read_csv(out_dir / pcn / f"{c}.csv")}
        assert {r["patient_id"] for r in equity} <= needing
        assert [int(r["rank"]) for r in equity] == list(range(1, len(equity) + 1))
    assert manifest["inequalities"]["listed"] == sum(manifest["inequalities"]["by_pcn"].values()) > 0


def test_anticipatory_care_ranked_by_a_model_trained_on_the_input(runs):
    """No model given: the run trains on its own last year, writes the artifact and model card, and ranks
    anticipatory care by the predicted risk (then eFI)."""
    data, out_dir, manifest = runs["fhir-ndjson"]
    risk = manifest["risk_model"]
    assert risk["status"].startswith("trained") and "not qadmissions" in risk["not_qadmissions"].lower()
    held = risk["held_out"]
    # the engine never reads the generator's risk_truth.csv: no oracle in a run (benchmarks/evaluate_risk.py has it)
    assert 0.5 < held["auroc"] <= 1 and held["oracle_auroc"] is None
    # scored: exactly the patients anticipatory care lists, nobody else
    assert risk["scored"] == manifest["cohorts"]["anticipatory_care"]["listed"] > 0
    card = json.loads((out_dir / "model" / "model_card.json").read_text())
    assert card["evaluation"]["auroc"] == held["auroc"] and (out_dir / "model" / "model_card.md").is_file()
    for pcn in manifest["pcns"]:
        rows = read_csv(out_dir / pcn / "anticipatory_care.csv")
        keys = [(-float(r["risk"]), -float(r["efi"] or 0), r["patient_id"]) for r in rows]
        assert keys == sorted(keys)
        assert all(0 <= float(r["risk"]) <= 1 and "predicted 12-month emergency-admission risk" in r["reason"]
                   for r in rows)


def test_a_given_model_is_used_not_retrained(runs):
    _, trained_dir, trained = runs["fhir-ndjson"]
    for fmt in ["gp-extract"]:
        data, out_dir, manifest = runs[fmt]
        risk = manifest["risk_model"]
        assert risk["status"] == f"given: {trained_dir / 'model'}" and not (out_dir / "model").exists()
        assert risk["held_out"] == trained["risk_model"]["held_out"]
        # the same population in another format, scored by the same model: the same risks
        for pcn in manifest["pcns"]:
            assert read_csv(out_dir / pcn / "anticipatory_care.csv") == \
                read_csv(trained_dir / pcn / "anticipatory_care.csv")


def test_summary_page_per_pcn(runs):
    data, out_dir, manifest = runs["gp-extract"]
    for pcn in manifest["pcns"]:
        page = (out_dir / pcn / "summary.html").read_text(encoding="utf-8")
        assert pcn in page and "not qadmissions" in page.lower() and "<svg" in page
        ids = {r["patient_id"] for r in read_csv(out_dir / pcn / "hypertension.csv")}
        assert not any(i in page for i in ids)
