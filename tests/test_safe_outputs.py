"""Safe by default: a run never writes into its input, never leaves identifiable data where it was not
asked to, names folders from data safely, cleans up after dead runs, and gives the same bytes twice.

Runs read the suite's reference run (tests/reference.py) and its input; the runs made here evaluate
the hypertension cohort alone (the cheapest): what is tested here is where and how outputs are written,
not the clinical rules. That the same input gives the same bytes in another process is shown by
tests/test_cluster.py, which reruns the reference under spark-submit.
"""
from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import ConfigError
from engine.output_folder import atomic_folder, check_paths, remove_stale_partials
from engine.pipeline import run
from engine.pseudonym import Pseudonymiser, load_key
from engine.worklists.build import pcn_folder
from reference import AS_OF

COHORTS = ["hypertension"]
KEY = "a-test-key-of-32-bytes-for-hmac!"


def casefind(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})}, cwd=cwd)


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def worklist_files(root: Path) -> dict[str, bytes]:
    """Every CSV and summary page outside canonical/, quarantine/ and model/."""
    return {k: v for k, v in all_files(root).items()
            if k.endswith((".csv", ".html")) and not k.startswith(("canonical", "quarantine", "model"))}


def manifest_less_timings(root: Path) -> dict:
    m = json.loads((root / "manifest.json").read_text())
    m.pop("timings_s")
    return m


def people(data: Path) -> list[dict]:
    """NHS number and names of every generated patient, read from the input itself."""
    out = []
    for line in (data / "Patient.ndjson").read_text().splitlines():
        p = json.loads(line)
        name = p["name"][0]
        out.append({"id": p["id"], "nhs": p["identifier"][0]["value"], "family": name["family"],
                    "given": name["given"][0], "birth": p["birthDate"]})
    return out


# --- paths: checked before anything is written -----------------------------------------------------

@pytest.mark.parametrize("out_rel,message", [
    ("in", "is the same folder as --input"),
    ("in/out", "is inside --input"),
    ("", "contains --input"),
])
def test_out_overlapping_the_input_is_refused_and_the_input_survives(tmp_path, out_rel, message):
    data = tmp_path / "in"
    data.mkdir()
    (data / "Patient.ndjson").write_text('{"resourceType":"Patient","id":"p1"}\n')
    # a bulk export's own manifest: it made the old atomic swap take the folder for a casefind output
    (data / "manifest.json").write_text('{"transactionTime":"2026-03-31T00:00:00Z","output":[]}')
    before = all_files(data)
    res = casefind("run", "--input", data, "--as-of", "2026-03-31", "--out", tmp_path / out_rel)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert all_files(data) == before


def test_work_folder_inside_out_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="--work .* is inside --out"):
        check_paths(tmp_path / "out", {"--input": tmp_path / "in"}, work=tmp_path / "out" / "w")


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_paths(tmp_path / "f", {"--input": tmp_path / "in"})
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_paths(tmp_path / "f" / "out", {"--input": tmp_path / "in"})


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere, so no folder is unwritable")
def test_out_in_an_unwritable_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match="no permission to write"):
        check_paths(locked / "out", {"--input": tmp_path / "in"})


def test_a_casefind_output_given_as_input_is_refused_with_the_way_to_read_it(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"engine": "casefind"}')
    (out / "canonical").mkdir()
    res = casefind("run", "--input", out, "--as-of", "2026-03-31", "--out", tmp_path / "o2")
    assert res.returncode == 2 and f"use --record {out}" in res.stderr


def test_a_folder_with_a_foreign_manifest_is_never_replaced(tmp_path):
    (tmp_path / "manifest.json").write_text('{"transactionTime": "2026-03-31"}')
    (tmp_path / "Patient.ndjson").write_text("{}\n")
    with pytest.raises(ConfigError, match="not a casefind output"):
        with atomic_folder(tmp_path):
            pass
    assert (tmp_path / "Patient.ndjson").exists()


def test_partial_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    import socket
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    host = socket.gethostname()
    stale = tmp_path / f".out.partial-{host}-{dead}"
    live = tmp_path / f".out.partial-{host}-{os.getpid()}"
    other_host = tmp_path / f".out.partial-elsewhere-{dead}"
    for p in (stale, live, other_host):
        (p / "canonical").mkdir(parents=True)
    assert remove_stale_partials(out) == [stale]
    assert live.exists() and other_host.exists() and not stale.exists()


# --- folder names from data ------------------------------------------------------------------------

def test_pcn_ids_that_are_ods_codes_are_their_own_folder():
    assert pcn_folder("U12345") == "U12345"
    assert pcn_folder(None) == "UNASSIGNED"


@pytest.mark.parametrize("pcn_id", ["..", ".", "canonical", "quarantine", "model", "CANONICAL", "U 00001",
                                    "U/00001", "/etc", "u12345", "", "U123456789012"])
def test_other_pcn_ids_become_a_hashed_folder_name(pcn_id):
    folder = pcn_folder(pcn_id) if pcn_id else pcn_folder(None)
    if not pcn_id:
        assert folder == "UNASSIGNED"
        return
    assert folder.startswith("_") and len(folder) == 13 and folder[1:].isalnum()
    assert folder == pcn_folder(pcn_id)   # the same id always lands in the same folder


def test_ids_that_used_to_collide_get_different_folders():
    ids = ["U 00001", "U/00001", "U_00001", "u00001", "U00001"]
    assert len({pcn_folder(i) for i in ids}) == len(ids)


# --- pseudonymisation key --------------------------------------------------------------------------

def test_pseudonymise_refuses_to_run_without_a_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CASEFIND_PSEUDO_KEY"}
    res = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--input", str(tmp_path), "--as-of",
                          "2026-03-31", "--out", str(tmp_path.parent / "o"), "--pseudonymise"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 2 and "needs a secret key: set CASEFIND_PSEUDO_KEY" in res.stderr


def test_a_short_key_is_refused_and_a_key_file_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("CASEFIND_PSEUDO_KEY", "short")
    with pytest.raises(ConfigError, match="shorter than 16 bytes"):
        load_key()
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    assert load_key(key_file) == KEY.encode()
    assert "a-test" not in repr(Pseudonymiser(load_key(key_file)))


# --- runs ------------------------------------------------------------------------------------------

def hypertension_files(root: Path) -> dict[str, bytes]:
    """Each PCN's hypertension worklist, and its rows of attrition.csv."""
    out = {}
    for k, v in worklist_files(root).items():
        if k.endswith("/hypertension.csv"):
            out[k] = v
        elif k.endswith("/attrition.csv"):
            lines = v.decode("utf-8-sig").splitlines()
            out[k] = "\n".join(lines[:1] + [ln for ln in lines[1:] if ",hypertension," in ln]).encode()
    return out


def test_outputs_are_owner_only(reference):
    loose = [str(p) for p in [reference.out, *reference.out.rglob("*")] if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert not loose, loose[:5]
    assert stat.S_IMODE((reference.out / "canonical" / "patients").stat().st_mode) == 0o700


def test_a_run_from_the_stored_record_gives_the_same_worklists(spark, reference, tmp_path):
    again = tmp_path / "from_record"
    manifest = run(spark, None, AS_OF, again, cohorts=COHORTS, record=reference.out)
    assert hypertension_files(again) == hypertension_files(reference.out)
    assert len(hypertension_files(again)) == 2 * len(reference.manifest["pcns"])
    assert manifest["cohorts"]["hypertension"] == reference.manifest["cohorts"]["hypertension"]
    assert manifest["input"]["record"] == str(reference.out.resolve())
    assert not (again / "canonical").exists()
    assert "ingest" not in manifest["timings_s"]


def test_pseudonymised_output_holds_nothing_identifiable(spark, reference, tmp_path):
    out, work = tmp_path / "pseudo", tmp_path / "pseudo_work"
    key = Pseudonymiser(KEY.encode())
    run(spark, reference.data, AS_OF, out, cohorts=COHORTS, pseudonymiser=key, work=work)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(
        p.name for p in reference.out.iterdir() if p.is_dir() and p.name not in ("canonical", "quarantine", "model"))
    # the identifiable working record went to --work, not --out
    assert (work / "canonical" / "patients").is_dir() and (work / "quarantine").is_dir()
    blob = b"\n".join(all_files(out).values()).decode("utf-8", "replace")
    for person in people(reference.data):
        assert person["nhs"] not in blob and person["nhs"][:3] + " " + person["nhs"][3:6] not in blob
        assert f"{person['family'].upper()}, {person['given']}" not in blob
        assert person["id"] not in blob
    # the same patients, in the same order, under keyed hashes
    for pcn in reference.manifest["pcns"]:
        plain, pseudo = read_csv(reference.out / pcn / "hypertension.csv"), read_csv(out / pcn / "hypertension.csv")
        assert [key.patient_id(r["patient_id"]) for r in plain] == [r["patient_id"] for r in pseudo]
        assert not {"nhs_number", "name", "birth_date"} & set(pseudo[0] if pseudo else {})
        assert all(r["age"] for r in pseudo)


def test_pseudonymised_run_without_work_leaves_no_working_record(spark, reference, monkeypatch, tmp_path):
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)   # re-read TMPDIR
    out = tmp_path / "pseudo2"
    run(spark, reference.data, AS_OF, out, cohorts=COHORTS, pseudonymiser=Pseudonymiser(KEY.encode()))
    assert list(private.iterdir()) == []
    assert not (out / "canonical").exists() and not (out / "quarantine").exists()


def test_an_input_that_is_one_file_is_read_and_its_folder_is_never_the_output(spark, reference, tmp_path):
    from engine.ingest import ingest
    one = tmp_path / "Patient.ndjson"
    one.write_bytes((reference.data / "Patient.ndjson").read_bytes())
    with pytest.raises(ConfigError, match="contains --input"):
        check_paths(tmp_path, {"--input": one})
    result = ingest(spark, one, None, tmp_path / "rec")
    assert result.report["canonical_rows"]["patients"] == len(people(reference.data))


def test_a_pseudonymised_manifest_counts_files_without_naming_them():
    from engine.pipeline import without_file_names
    report = {"totals": {"read": 3}, "files": {"read": {"json": 2}, "ignored": ["Aaron697_Brekke496_1.json"],
                                               "invalid_utf8": {"Bea_Smith_2.json": 1}, "empty": []}}
    assert without_file_names(report) == {"totals": {"read": 3},
                                          "files": {"read": {"json": 2}, "ignored": 1, "invalid_utf8": 1, "empty": 0}}
