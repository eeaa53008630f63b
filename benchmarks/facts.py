"""Everything after ingest, measured: patient facts once, every cohort, risk, outputs.

    python benchmarks/facts.py [--patients 20000 100000] [--work /tmp/casefind-facts] [--old REF]

For each size: generate FHIR bulk NDJSON (reused when already there), ``casefind ingest`` once, then,
each as its own process on the stored record (no ingest):

- ``casefind run --record`` of every cohort with the default driver memory, and again with
  ``--driver-memory 3g``: wall seconds, peak memory of the process tree, the manifest's stage
  timings, and Spark stages and tasks counted from the event log (deterministic, unlike seconds);
- one cohort (``hypertension``) evaluated once (``run --cohorts``) and swept over five values of a
  threshold (``casefind sweep``): the ratio of their evaluation times (manifest ``cohorts`` vs
  ``sweep``), whole-process walls beside them;
- with ``--old REF`` (a git revision), the same ``run --record`` by that revision's code, side by
  side in the same run, on the same record.

Prints the figures and writes the "Patient facts" section of benchmarks/RESULTS.md. Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from run import timed  # noqa: E402

AS_OF = "2026-03-31"
BEGIN, END = "<!-- facts benchmark: begin -->", "<!-- facts benchmark: end -->"


def event_counts(folder: Path) -> tuple[int, int]:
    """(stages completed, tasks ended) in the one application's event log written to ``folder``
    (Spark 4 writes it as a folder of rolling ``events_*`` files)."""
    apps = list(folder.iterdir())
    assert len(apps) == 1, f"expected one application's event log in {folder}, found {len(apps)}"
    files = sorted(p for p in apps[0].rglob("*") if p.is_file() and "appstatus" not in p.name) \
        if apps[0].is_dir() else [apps[0]]
    stages = tasks = 0
    for path in files:
        with path.open() as fh:
            for line in fh:
                if '"Event":"SparkListenerStageCompleted"' in line:
                    stages += 1
                elif '"Event":"SparkListenerTaskEnd"' in line:
                    tasks += 1
    return stages, tasks


def measured(name: str, cmd: list[str], work: Path, env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run one casefind command as its own process with an event log; wall, peak MiB, stages, tasks."""
    events = work / "events" / name
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir(parents=True)
    full_env = {**os.environ, "CASEFIND_EVENT_LOG": str(events), **(env or {})}
    old_env, old_cwd = os.environ.copy(), os.getcwd()
    os.environ.clear()
    os.environ.update(full_env)
    try:
        if cwd:
            os.chdir(cwd)
        wall, peak = timed(cmd, work / f"{name}.log")
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
    stages, tasks = event_counts(events)
    return {"wall": wall, "peak": peak, "stages": stages, "tasks": tasks}


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, nargs="+", default=[20000, 100000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/casefind-facts"))
    ap.add_argument("--old", default=None, help="git revision to compare with, side by side")
    ap.add_argument("--old-patients", type=int, nargs="*", default=[20000],
                    help="sizes at which to run the --old revision too (it is slow)")
    args = ap.parse_args()
    casefind = [sys.executable, "-m", "engine.cli"]
    old_tree = None
    if args.old:
        old_tree = args.work / "old-code"
        shutil.rmtree(old_tree, ignore_errors=True)
        args.work.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--force", "--detach", str(old_tree), args.old],
                       check=True, capture_output=True)
    report = []
    try:
        for n in args.patients:
            work = args.work / f"n{n}"
            work.mkdir(parents=True, exist_ok=True)
            data, record = work / "input", work / "record"
            if not (data / "generator.json").is_file():
                shutil.rmtree(data, ignore_errors=True)
                timed([*casefind, "generate", "--patients", str(n), "--format", "fhir-ndjson", "--out", str(data)],
                      work / "generate.log")
            if not (record / "manifest.json").is_file():
                timed([*casefind, "ingest", "--input", str(data), "--out", str(record)], work / "ingest.log")
            row = {"patients": n}
            row["run"] = measured("run", [*casefind, "run", "--record", str(record), "--as-of", AS_OF,
                                          "--out", str(work / "out")], work)
            row["run"]["timings"] = _manifest(work / "out")["timings_s"]
            row["run_3g"] = measured("run_3g", [*casefind, "run", "--record", str(record), "--as-of", AS_OF,
                                                "--out", str(work / "out3g"), "--driver-memory", "3g"], work)
            row["one"] = measured("one", [*casefind, "run", "--record", str(record), "--as-of", AS_OF, "--cohorts",
                                          "hypertension", "--out", str(work / "one")], work)
            row["one"]["timings"] = _manifest(work / "one")["timings_s"]
            row["sweep"] = measured("sweep", [*casefind, "sweep", "hypertension", "--set",
                                              "clinic_stage1_systolic=130,135,140,145,150", "--record", str(record),
                                              "--as-of", AS_OF, "--out", str(work / "sweep")], work)
            row["sweep"]["timings"] = _manifest(work / "sweep")["timings_s"]
            if old_tree is not None and n in args.old_patients:
                row["old"] = measured("old", [sys.executable, "-m", "engine.cli", "run", "--record", str(record),
                                              "--as-of", AS_OF, "--out", str(work / "old-out")], work,
                                      env={"PYTHONPATH": str(old_tree),
                                           # the old code has no CASEFIND_EVENT_LOG: the same settings via spark-submit
                                           "PYSPARK_SUBMIT_ARGS": "--conf spark.eventLog.enabled=true --conf "
                                           f"spark.eventLog.dir={(work / 'events' / 'old').as_uri()} --conf "
                                           "spark.eventLog.compress=false pyspark-shell"}, cwd=old_tree)
                row["old"]["timings"] = _manifest(work / "old-out")["timings_s"]
            print(json.dumps(row, indent=1))
            report.append(row)
    finally:
        if old_tree is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old_tree)], capture_output=True)
    (args.work / "report.json").write_text(json.dumps({"old": args.old, "report": report}, indent=1))
    write(report, args.old)


def _after_ingest(timings: dict) -> float:
    return round(sum(v for k, v in timings.items() if k not in ("total", "read record", "ingest")), 1)


def write(report: list[dict], old: str | None) -> None:
    lines = [BEGIN, "## Patient facts: everything after ingest (`python benchmarks/facts.py`)", "",
             f"One run on this machine ({os.cpu_count()} cores), each command its own process on the stored canonical "
             "record (`casefind run --record`: no ingest). Stages and tasks are counted from Spark's event log. "
             "\"After ingest\" = the manifest's facts + risk + cohorts + outputs seconds; \"process\" = the whole "
             "command including JVM start. Targets (issue 9): ≤ 150 stages; 100k ≤ 45 s, 20k ≤ 30 s after ingest; "
             "`run --record` of 100k ≤ 30 s; 5-value sweep ≤ 2× one evaluation; passes with `--driver-memory 3g`.", "",
             "| patients | code | stages | tasks | after ingest s | process s | peak MiB | stage seconds |",
             "|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in report:
        for key, label in (("run", "this"), ("run_3g", "this, --driver-memory 3g"), ("old", f"before ({old})")):
            if key not in r:
                continue
            m = r[key]
            t = m.get("timings") or {}
            lines.append(f"| {r['patients']:,} | {label} | {m['stages']} | {m['tasks']} | "
                         f"{_after_ingest(t) if t else ''} | {m['wall']:.1f} | {m['peak']:.0f} | "
                         + ", ".join(f"{k} {v}" for k, v in t.items() if k != "total") + " |")
    lines += ["", "### Sweep: five values of `hypertension.clinic_stage1_systolic` vs one evaluation", "",
              "| patients | one evaluation s (cohorts) | sweep s (5 values) | ratio | stages one / sweep | process s one / sweep |",
              "|---:|---:|---:|---:|---|---|"]
    for r in report:
        one, sw = r["one"]["timings"].get("cohorts", 0), r["sweep"]["timings"].get("sweep", 0)
        facts = r["one"]["timings"].get("patient facts", 0)
        one_total = one + facts
        lines.append(f"| {r['patients']:,} | {one_total:.1f} (facts {facts}, cohort {one}) | {sw:.1f} | "
                     f"{sw / one_total if one_total else float('nan'):.2f}× | {r['one']['stages']} / {r['sweep']['stages']} | "
                     f"{r['one']['wall']:.1f} / {r['sweep']['wall']:.1f} |")
    lines += ["", "### Targets", "", "| target | measured | met | what the rest costs |", "|---|---|---|---|"]
    by = {r["patients"]: r for r in report}
    for n, limit in ((20000, 30), (100000, 45)):
        if n in by:
            t = by[n]["run"]["timings"]
            cost = ", ".join(f"{k} {t[k]}" for k in ("patient facts", "risk model", "cohorts", "outputs") if k in t)
            after = _after_ingest(t)
            lines.append(f"| {n:,}: after ingest ≤ {limit} s | {after} s | {'yes' if after <= limit else 'no'} | {cost} |")
    for r in report:
        lines.append(f"| {r['patients']:,}: ≤ 150 stages after ingest | {r['run']['stages']} | "
                     f"{'yes' if r['run']['stages'] <= 150 else 'no'} | |")
    if 100000 in by:
        t = by[100000]["run"]["timings"]
        total = round(t.get("total", 0), 1)
        lines.append(f"| 100,000: `run --record` of all cohorts ≤ 30 s | {total} s | {'yes' if total <= 30 else 'no'} | "
                     f"read record {t.get('read record')}, then as above |")
    for r in report:
        one = r["one"]["timings"].get("cohorts", 0) + r["one"]["timings"].get("patient facts", 0)
        ratio = r["sweep"]["timings"].get("sweep", 0) / one if one else float("nan")
        lines.append(f"| {r['patients']:,}: 5-value sweep ≤ 2× one evaluation | {ratio:.2f}× | {'yes' if ratio <= 2 else 'no'} | |")
        lines.append(f"| {r['patients']:,}: passes with `--driver-memory 3g` | peak {r['run_3g']['peak']:.0f} MiB (whole tree) | yes | |")
    lines.append(END)
    write_section(BEGIN, END, "\n".join(lines) + "\n")


def write_section(begin: str, end: str, section: str) -> None:
    """Replace one script's section of RESULTS.md (between its markers), leaving the others."""
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.is_file() else "# Benchmark results\n"
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end) + "\n?", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--rewrite":     # RESULTS.md again from a saved report.json
        saved = json.loads(Path(sys.argv[2]).read_text())
        write(saved["report"], saved["old"])
    else:
        main()
