"""Scale and side-by-side figures; prints them and writes benchmarks/RESULTS.md.

    python benchmarks/run.py [--patients 20000 100000] [--work /tmp/casefind-bench]

For each size: generate FHIR bulk NDJSON (whole-process wall time and peak memory of the
generator), then `casefind run` as a separate process (wall time, peak memory of the driver
process tree as reported by the kernel), with the stage timings the run logs. Side by side, in the
same run: parsing the same Observation lines in Python with fhir.resources (R4B models), the slow path
the Spark readers replace, against the Spark ingest rate. Figures are from one run on this machine;
compare ratios, not absolutes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _tree_rss_mib(root: int) -> float:
    """Resident memory of a process and all its descendants (the Spark JVM is a grandchild)."""
    parents, rss = {}, {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == pid]
        tree.update(kids)
        frontier.extend(kids)
    return sum(rss.get(p, 0) for p in tree) / 2**20


def timed(cmd: list[str], log: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of the whole process tree, sampled every 0.5 s."""
    t0 = time.monotonic()
    peak = 0.0
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            peak = max(peak, _tree_rss_mib(proc.pid))
            time.sleep(0.5)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}; see {log}")
    return wall, peak


def python_parse_rate(ndjson: Path, limit: int = 5000) -> tuple[int, float]:
    from fhir.resources.R4B.observation import Observation
    lines = []
    with ndjson.open() as fh:
        for line in fh:
            lines.append(line)
            if len(lines) >= limit:
                break
    t0 = time.monotonic()
    for line in lines:
        Observation.model_validate_json(line)
    return len(lines), len(lines) / (time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, nargs="+", default=[20000, 100000])
    ap.add_argument("--generate-only", type=int, nargs="*", default=[1000000],
                    help="sizes to generate without running (the generator's bounded-memory check)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/casefind-bench"))
    args = ap.parse_args()
    casefind = [sys.executable, "-m", "engine.cli"]
    rows, notes = [], []
    for n in args.patients:
        work = args.work / f"n{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        gen_s, gen_mb = timed([*casefind, "generate", "--patients", str(n), "--format", "fhir-ndjson",
                               "--out", str(work / "input")], work / "generate.log")
        run_s, run_mb = timed([*casefind, "run", "--input", str(work / "input"), "--as-of", "2026-03-31",
                               "--out", str(work / "out")], work / "run.log")
        manifest = json.loads((work / "out" / "manifest.json").read_text())
        resources = manifest["ingest"]["totals"]["read"]
        log_text = (work / "run.log").read_text()
        stages = dict(re.findall(r"(ingest|cohort \w+):.*?([\d.]+) s", log_text))
        stages.update(("risk model (train + score)", s) for s in re.findall(r"risk model ready in ([\d.]+) s", log_text))
        input_mb = manifest["input"]["bytes"] / 2**20
        rows.append((n, resources, input_mb, gen_s, gen_mb, run_s, run_mb, stages))
        print(f"{n} patients: {resources} resources ({input_mb:.0f} MiB); generate {gen_s:.1f} s "
              f"(peak {gen_mb:.0f} MiB); run {run_s:.1f} s (peak {run_mb:.0f} MiB); stages {stages}")
        obs = sorted((work / "input").glob("Observation*.ndjson"))[0]
        count, rate = python_parse_rate(obs)
        ingest_s = float(stages.get("ingest", "nan"))
        spark_rate = resources / ingest_s if ingest_s == ingest_s else float("nan")
        notes.append(f"{n} patients: fhir.resources R4B parses {rate:,.0f} Observations/s in one Python "
                     f"process ({count} lines); Spark ingest maps {spark_rate:,.0f} resources/s end to end "
                     f"(read, parse, map, quarantine, write Parquet): {spark_rate / rate:.1f}× the Python parse alone.")
        print(notes[-1])

    gen_only = []
    for n in args.generate_only:
        work = args.work / f"gen{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        gen_s, gen_mb = timed([*casefind, "generate", "--patients", str(n), "--format", "fhir-ndjson",
                               "--out", str(work / "input")], work / "generate.log")
        size = sum(p.stat().st_size for p in (work / "input").iterdir()) / 2**20
        gen_only.append((n, gen_s, gen_mb, size))
        print(f"generate only, {n} patients: {gen_s:.1f} s, peak {gen_mb:.0f} MiB, {size:.0f} MiB written")
        shutil.rmtree(work, ignore_errors=True)

    lines = ["# Benchmark results", "",
             f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; one run of "
             "`python benchmarks/run.py`. Whole-process wall times; peak memory is the resident set of the "
             "whole process tree (Python driver plus the Spark JVM), sampled every 0.5 s.", "",
             "| patients | resources | input MiB | generate s | generate peak MiB | run s | run peak MiB | stage seconds |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for n, res, mb, gs, gm, rs, rm, st in rows:
        lines.append(f"| {n:,} | {res:,} | {mb:.0f} | {gs:.1f} | {gm:.0f} | {rs:.1f} | {rm:.0f} | "
                     + ", ".join(f"{k} {v}" for k, v in st.items()) + " |")
    if gen_only:
        lines += ["", "## Generator alone (chunked writes, bounded memory)", "",
                  "| patients | seconds | peak MiB | MiB written |", "|---:|---:|---:|---:|"]
        lines += [f"| {n:,} | {s:.1f} | {m:.0f} | {w:.0f} |" for n, s, m, w in gen_only]
    lines += ["", "## Side by side: Spark readers vs parsing in Python with fhir.resources", "", *[f"- {x}" for x in notes], ""]
    (HERE / "RESULTS.md").write_text("\n".join(lines))
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
