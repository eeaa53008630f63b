"""The command line: clear one-line errors, no stack traces, atomic outputs."""
from __future__ import annotations

import subprocess
import sys

import pytest

from engine.config import ConfigError
from engine.output_folder import atomic_folder


def casefind(*args):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,message", [
    (["run", "--input", "no/such/folder", "--as-of", "2026-03-31", "--out", "x"], "input not found: no/such/folder"),
    (["run", "--input", ".", "--as-of", "31/03/2026", "--out", "x"], "'31/03/2026' is not a date: write it as YYYY-MM-DD"),
    (["run", "--input", ".", "--as-of", "2026-02-30", "--out", "x"], "'2026-02-30' is not a date: February 2026 has 28 days"),
    (["run", "--input", ".", "--as-of", "2026-13-01", "--out", "x"], "there is no month 13"),
    (["run", "--input", ".", "--as-of", "2026-03-31", "--out", "x", "--cohorts", "smr,statins"], "unknown cohort(s): statins"),
    (["run", "--input", ".", "--as-of", "2026-03-31", "--out", "x", "--work", "w"], "only apply with --pseudonymise"),
    (["generate", "--patients", "0", "--out", "x"], "must be a whole number of at least 1"),
    (["generate", "--format", "hl7v2", "--out", "x"], "invalid choice: 'hl7v2'"),
    (["explain", "statins"], "unknown cohort 'statins'"),
    (["train", "--input", "no/such/folder", "--as-of", "2026-03-31", "--out", "m"], "input not found: no/such/folder"),
    (["run", "--input", ".", "--as-of", "2026-03-31", "--out", "x", "--model", "no/model"],
     "no model at no/model (expected model.joblib from casefind train)"),
])
def test_bad_arguments_get_one_clear_line_and_non_zero_exit(args, message):
    res = casefind(*args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("casefind")


def test_bad_cohort_config_is_one_line(tmp_path):
    import shutil
    from engine.config import REPO_CONF
    shutil.copytree(REPO_CONF, tmp_path, dirs_exist_ok=True)
    (tmp_path / "cohorts" / "hypertension.yaml").write_text("clinic_stage1_systolic: [140\n")
    res = subprocess.run([sys.executable, "-m", "engine.cli", "explain", "hypertension"], capture_output=True,
                         text=True, timeout=120, env={**__import__("os").environ, "CASEFIND_CONF": str(tmp_path)})
    assert res.returncode == 2 and "not valid YAML" in res.stderr and "Traceback" not in res.stderr


def test_failed_run_leaves_last_good_output(tmp_path):
    out = tmp_path / "out"
    with atomic_folder(out) as work:
        (work / "manifest.json").write_text('{"engine": "casefind"}')
        (work / "good.csv").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_folder(out) as work:
            (work / "manifest.json").write_text('{"engine": "casefind"}')
            (work / "good.csv").write_text("half-written")
            raise RuntimeError("stage failed")
    assert (out / "good.csv").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a casefind output"):
        with atomic_folder(tmp_path):
            pass
    assert (tmp_path / "precious.txt").exists()


def test_a_closed_pipe_is_not_an_error():
    """`casefind explain smr | head -1`: the reader leaves early; no 'failed: BrokenPipeError'."""
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "explain", "smr"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()   # the reader has gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "BrokenPipe" not in err and "failed" not in err


def test_help_has_a_line_per_option_and_an_example_and_version_is_given():
    res = casefind("run", "--help")
    assert res.returncode == 0
    for option in ("--input DIR", "--record DIR", "--out DIR", "--as-of YYYY-MM-DD", "--pseudonymise", "--work DIR"):
        line = next(l for l in res.stdout.splitlines() if l.strip().startswith(option))
        assert len(line.strip()) > len(option) or option == "--pseudonymise"
    assert "example:\n  casefind run --input" in res.stdout
    version = casefind("--version")
    assert version.returncode == 0 and version.stdout.startswith("casefind ")
