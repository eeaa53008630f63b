"""Which SparkSession settings make the TEST SUITE's workload fastest: measured, side by side.

    python benchmarks/test_settings.py [--rounds 2] [--quick] [--work DIR]
                                       [--variants current local1 ...] [--workloads spec pipeline]
                                       [--best local1,codegen_off | --best auto | --best none]
    python benchmarks/test_settings.py --rewrite WORK/report.json     # RESULTS.md again from a saved run

Two workloads, each the shape of a part of the test suite:

- ``spec``: a tiny canonical record built with ``tests/builders.py``'s ``Population`` (300 patients,
  a few BP readings, diagnoses and medication issues each, built deterministically here), its patient
  facts built once (``engine.features.facts.patient_facts``, counted), every cohort of
  ``engine.cohorts.COHORTS`` evaluated with ``engine.cohorts.render.evaluate`` on the facts filtered
  to the record's own ids (as ``tests/spec.py`` reads them) and collected, then 20 more evaluations
  of ``hypertension`` with ``clinic_stage1_systolic`` 130..149: the spec tests' few hundred small
  evaluate + collect calls on one cached facts table.
- ``pipeline``: ``engine.pipeline.run`` of every cohort, model trained, on a 1,500-patient FHIR
  bulk NDJSON population generated once beforehand (seed 20260331, 2 PCNs, as of 2026-03-31): the
  suite's reference run (``tests/reference.py``).

Every (variant, workload) runs in its own fresh Python process (``--child``), so JVM start is
counted the same way for each, with Spark's event log on (``CASEFIND_EVENT_LOG``) into its own
folder. The session is built as ``tests/conftest.py`` builds it (``engine.spark.get_spark(master,
app_name, loopback=True, extra, java_options)``), with the variant's settings. Variants run
interleaved, round after round (current, v2, v3, ..., current, v2, v3, ...), because the machine
is shared: compare ratios to ``current`` within one run, never absolute seconds across runs.

Variants: ``current`` (tests/conftest.py's session), then one change each: ``local1`` (local[1],
shuffle.partitions 1, default.parallelism 1), ``local2_p1`` (shuffle.partitions 1), ``bcast_1m``
(autoBroadcastJoinThreshold 1m; ``bcast_off``, -1, only when named: it costs a variant's time),
``aqe_off``, ``codegen_off`` (whole-stage codegen), and two JVM ones: ``cc256``
(-XX:ReservedCodeCacheSize=256m: -XX:TieredStopAtLevel=1 shrinks the JIT code cache from 240 to
48 MiB, which the pipeline workload fills) and ``tiered`` (without -XX:TieredStopAtLevel=1).

Figures per variant and workload (median over rounds, with the spread): ``workload s`` = the
workload alone, timed inside the child after the session is up; ``session s`` = ``get_spark``
(JVM start); ``process s`` = the whole child process as the parent saw it (interpreter, imports,
JVM, workload, stop); jobs, stages and tasks counted from the event log (the spec workload's are
identical round to round; the pipeline's can differ by a few, because AQE's partition coalescing
reads runtime sizes); ``× current`` = median workload seconds / current's median; the driver JVM's
code cache (peak used / reserved), JIT and GC seconds (JMX), and whether the JVM printed "CodeCache
is full. Compiler has been disabled". The event log's environment-update event is read to confirm
each variant's settings (master, partitions, broadcast threshold, AQE, codegen, UI, -XX flags)
really were the session's.

Then the best combination: ``--best auto`` (the default) builds it from the measured rounds, from
each group of alternatives (local1 / local2_p1; cc256 / tiered) the fastest, plus every additive
setting (broadcast threshold, AQE off, codegen off), each only when its summed workload medians
beat current's by more than current's round-to-round spread (at least 3%), and runs it interleaved
with ``current`` again for the same number of rounds (not when it is one variant already measured).
``--best a,b`` names the variants to combine instead; they then run in the main rounds.

Prints the table and writes the "Test settings" section of benchmarks/RESULTS.md (the shared
``write_section`` of benchmarks/facts.py), leaving the other sections alone. Event logs, child logs
and outputs go under ``--work`` (default: a temporary folder, removed at the end). Not a test.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from facts import event_counts, write_section  # noqa: E402
from run import timed  # noqa: E402

BEGIN, END = "<!-- test settings benchmark: begin -->", "<!-- test settings benchmark: end -->"
RESULT = "TEST-SETTINGS-RESULT "     # the line a child reports its figures on

AS_OF = dt.date(2026, 3, 31)
PIPELINE_PATIENTS, PIPELINE_PCNS, PIPELINE_SEED = 1500, 2, 20260331      # tests/reference.py's run
SPEC_PATIENTS, SPEC_OVERRIDES = 300, list(range(130, 150))                # 20 hypertension overrides

# tests/conftest.py's session, as it stands: every variant is this plus its changes.
CURRENT = {"master": "local[2]",
           "extra": {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
                     "spark.driver.memory": "4g"},
           "java_options": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}

# name → (what it changes, master or None to keep, Spark settings over CURRENT's, JVM flags over
# CURRENT's java_options: flag prefix → the flag, or None to drop it)
VARIANTS: dict[str, tuple[str, str | None, dict[str, str], dict[str, str | None]]] = {
    "current": ("tests/conftest.py as it is", None, {}, {}),
    "local1": ("local[1], shuffle.partitions 1, default.parallelism 1", "local[1]",
               {"spark.sql.shuffle.partitions": "1", "spark.default.parallelism": "1"}, {}),
    "local2_p1": ("local[2], shuffle.partitions 1, default.parallelism 2", None,
                  {"spark.sql.shuffle.partitions": "1"}, {}),
    "bcast_1m": ("autoBroadcastJoinThreshold 1m", None, {"spark.sql.autoBroadcastJoinThreshold": "1m"}, {}),
    "bcast_off": ("autoBroadcastJoinThreshold -1 (no automatic broadcast)", None,
                  {"spark.sql.autoBroadcastJoinThreshold": "-1"}, {}),
    "aqe_off": ("adaptive.enabled false", None, {"spark.sql.adaptive.enabled": "false"}, {}),
    "codegen_off": ("codegen.wholeStage false", None, {"spark.sql.codegen.wholeStage": "false"}, {}),
    # -XX:TieredStopAtLevel=1 also shrinks the JIT's code cache from 240 MiB to 48 MiB (java
    # -XX:+PrintFlagsFinal): the pipeline workload fills it ("CodeCache is full. Compiler has been
    # disabled", once "Out of space in CodeCache": a crash). These two test the JVM flags themselves.
    "cc256": ("JVM -XX:ReservedCodeCacheSize=256m (C1 only, as now, with the full-size code cache)", None, {},
              {"-XX:ReservedCodeCacheSize=": "-XX:ReservedCodeCacheSize=256m"}),
    "tiered": ("JVM without -XX:TieredStopAtLevel=1 (C1 and C2, default 240 MiB code cache)", None, {},
               {"-XX:TieredStopAtLevel=": None}),
}
# Not run unless named: the spec workload showed it slower, and each variant costs ~5 minutes here.
OPTIONAL = ("bcast_off",)
# Choices of which exactly one applies (the first is CURRENT's), and settings that add to anything.
GROUPS = (("current", "local1", "local2_p1"), ("current", "cc256", "tiered"))
ADDITIVE_VARIANTS = ("bcast_1m", "bcast_off", "aqe_off", "codegen_off")
WORKLOADS = ("spec", "pipeline")
# Settings read back from each child's event log (environment update), to confirm the variant.
SHOWN = {"spark.master": "master", "spark.sql.shuffle.partitions": "shuffle", "spark.default.parallelism": "par",
         "spark.sql.autoBroadcastJoinThreshold": "bcast", "spark.sql.adaptive.enabled": "aqe",
         "spark.sql.codegen.wholeStage": "wscg", "spark.ui.enabled": "ui", "spark.driver.extraJavaOptions": "jvm"}


def session_settings(variant: str) -> dict:
    """master, extra and java_options of a variant; ``a+b`` combines named variants."""
    master, extra, flags = CURRENT["master"], dict(CURRENT["extra"]), CURRENT["java_options"].split()
    for part in variant.split("+"):
        _, m, changes, jvm = VARIANTS[part]
        master = m or master
        extra.update(changes)
        for prefix, flag in jvm.items():
            flags = [f for f in flags if not f.startswith(prefix)] + ([flag] if flag else [])
    return {"master": master, "extra": extra, "java_options": " ".join(flags)}


# --- the child: one variant, one workload, one process ---------------------------------------

def spec_population(n: int = SPEC_PATIENTS, seed: int = 20260331):
    """``n`` deterministic patients, each with a few BP readings, diagnoses and medication issues
    (and now and then an emergency encounter or an urgent referral), ids ``bench:p0001``..."""
    import random

    from builders import (BMI, CHD, DIABETES, EGFR, HYPERTENSION, PALLIATIVE, STROKE, Population,
                          months_ago)
    from engine.codes import RXNORM, SNOMED
    af, heart_failure = (SNOMED, "49436004"), (SNOMED, "84114007")
    apixaban, warfarin = (SNOMED, "703908001"), (RXNORM, "855332")
    fast_track = (SNOMED, "199251000000107")
    diagnoses = [HYPERTENSION, DIABETES, CHD, STROKE, af, heart_failure, PALLIATIVE]
    rnd = random.Random(seed)
    pop = Population()
    for i in range(1, n + 1):
        pid = pop.patient(f"bench:p{i:04d}", age=rnd.randint(18, 95), sex=rnd.choice(("female", "male")))
        for _ in range(rnd.randint(1, 4)):
            pop.bp(pid, months_ago(rnd.randint(0, 30), rnd.randint(0, 27)), rnd.randint(110, 185),
                   rnd.randint(65, 115), setting=rnd.choice(("clinic", "clinic", "home", "loinc")))
        for coding in rnd.sample(diagnoses, rnd.randint(0, 3)):
            pop.diagnosis(pid, coding, months_ago(rnd.randint(1, 120)))
        for _ in range(rnd.randint(0, 3)):
            pop.medication(pid, rnd.choice((apixaban, warfarin)), months_ago(rnd.randint(0, 14)))
        if rnd.random() < 0.5:
            pop.event(pid, EGFR, months_ago(rnd.randint(0, 20)), rnd.randint(25, 95))
            pop.event(pid, BMI, months_ago(rnd.randint(0, 20)), rnd.randint(19, 42))
        if rnd.random() < 0.15:
            pop.encounter(pid, months_ago(rnd.randint(0, 11)), klass="emergency")
        if rnd.random() < 0.1:
            pop.referral(pid, fast_track, months_ago(0, rnd.randint(10, 80)))
    return pop


def workload_spec(spark, parts: dict) -> None:
    from pyspark.sql import functions as F

    from engine.cohorts import COHORTS
    from engine.cohorts.render import evaluate
    from engine.features.facts import patient_facts
    t0 = time.monotonic()
    record = spec_population().record(spark)
    parts["record"] = time.monotonic() - t0
    t0 = time.monotonic()
    facts = patient_facts(record, AS_OF)
    parts["facts_rows"] = facts.count()
    parts["facts"] = time.monotonic() - t0
    own = facts.where(F.col("patient_id").startswith("bench:"))          # as tests/spec.py reads it
    risk = {"risk": spark.createDataFrame([], "patient_id string, risk_score double, top_factors string")}
    t0 = time.monotonic()
    rows = 0
    for cohort in COHORTS.values():
        rows += len(evaluate(cohort, own, AS_OF, cohort.params(), risk if cohort.inputs else None).collect())
    parts["cohorts"] = time.monotonic() - t0
    t0 = time.monotonic()
    hypertension = COHORTS["hypertension"]
    for value in SPEC_OVERRIDES:
        rows += len(evaluate(hypertension, own, AS_OF, hypertension.params({"clinic_stage1_systolic": value})).collect())
    parts["overrides"] = time.monotonic() - t0
    parts["evaluations"] = len(COHORTS) + len(SPEC_OVERRIDES)
    parts["rows"] = rows


def workload_pipeline(spark, parts: dict, data: Path, out: Path) -> None:
    from engine.pipeline import run
    manifest = run(spark, data, AS_OF, out, fmt="fhir-ndjson")
    parts.update({k: v for k, v in manifest["timings_s"].items() if k != "total"})
    parts["listed"] = sum(c["listed"] for c in manifest["cohorts"].values())


def child_main(variant: str, workload: str, data: Path, out: Path) -> None:
    started = time.monotonic()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests"))
    from engine.spark import get_spark
    imported = time.monotonic()
    settings = session_settings(variant)
    spark = get_spark(master=settings["master"], app_name=f"casefind-test-settings-{variant}-{workload}",
                      loopback=True, extra=settings["extra"], java_options=settings["java_options"])
    up = time.monotonic()
    parts: dict = {}
    if workload == "spec":
        workload_spec(spark, parts)
    else:
        workload_pipeline(spark, parts, data, out)
    done = time.monotonic()
    jvm = jvm_figures(spark)
    spark.stop()
    print(RESULT + json.dumps({"imports": imported - started, "session": up - imported, "workload": done - up,
                               "stop": time.monotonic() - done, "parts": parts, "jvm": jvm}), flush=True)


def jvm_figures(spark) -> dict:
    """The driver JVM's JIT code cache (peak used / reserved, MiB), JIT compile and GC seconds."""
    mf = spark._jvm.java.lang.management.ManagementFactory
    peak = size = 0
    for pool in mf.getMemoryPoolMXBeans():
        if "Code" in pool.getName():          # "CodeCache", or the segmented "CodeHeap '...'" pools
            peak += pool.getPeakUsage().getUsed()
            size += pool.getUsage().getMax()
    return {"code_cache_peak_mib": peak / 2**20, "code_cache_mib": size / 2**20,
            "jit_s": mf.getCompilationMXBean().getTotalCompilationTime() / 1000,
            "gc_s": sum(gc.getCollectionTime() for gc in mf.getGarbageCollectorMXBeans()) / 1000}


# --- the parent ------------------------------------------------------------------------------

def event_log(folder: Path) -> dict:
    """Jobs and the session's settings from the one application's event log in ``folder`` (stages
    and tasks: ``facts.event_counts``)."""
    stages, tasks = event_counts(folder)
    jobs, settings = 0, {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "appstatus" not in p.name):
        with path.open() as fh:
            for line in fh:
                if '"Event":"SparkListenerJobEnd"' in line:
                    jobs += 1
                elif '"Event":"SparkListenerEnvironmentUpdate"' in line:
                    props = json.loads(line).get("Spark Properties", {})
                    props = dict(props) if isinstance(props, dict) else {k: v for k, v in props}
                    settings = {short: props.get(key, "(default)") for key, short in SHOWN.items()}
                    settings["jvm"] = " ".join(f for f in settings["jvm"].split() if f.startswith("-XX"))
    return {"jobs": jobs, "stages": stages, "tasks": tasks, "settings": settings}


def run_child(variant: str, workload: str, rnd: int, work: Path, data: Path, resume: bool = False) -> dict:
    name = f"{variant}-{workload}-r{rnd}"
    saved_fig = work / "results" / f"{name}.json"
    if resume and saved_fig.is_file():          # --resume: a run an interrupted benchmark finished
        return {**json.loads(saved_fig.read_text()), "resumed": True}
    fig = _run_child(name, variant, workload, work, data)
    if "failed" not in fig:
        saved_fig.parent.mkdir(parents=True, exist_ok=True)
        saved_fig.write_text(json.dumps(fig))
    return fig


def _run_child(name: str, variant: str, workload: str, work: Path, data: Path) -> dict:
    events, out, log = work / "events" / name, work / "out" / name, work / "logs" / f"{name}.log"
    for path in (events, out):
        shutil.rmtree(path, ignore_errors=True)
    events.mkdir(parents=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", variant, workload, str(data), str(out)]
    saved = os.environ.copy()
    os.environ["CASEFIND_EVENT_LOG"] = str(events)
    try:
        wall, peak = timed(cmd, log)
    except SystemExit as failed:     # one broken variant must not lose the others' figures
        print(failed, flush=True)
        return {"failed": f"see {log}", "why": _why(log)}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    found = [line[len(RESULT):] for line in log.read_text().splitlines() if line.startswith(RESULT)]
    if not found:
        return {"failed": f"no result line in {log}"}
    shutil.rmtree(out, ignore_errors=True)      # the worklists are not needed; the event log is
    full = sum("CodeCache is full" in line for line in log.read_text().splitlines())
    return {**json.loads(found[-1]), "process": wall, "peak_mib": peak, "code_cache_full": full > 0,
            **event_log(events)}


def _why(log: Path) -> str:
    """The first JVM error or Python exception line of a failed child's log."""
    for line in log.read_text(errors="replace").splitlines():
        if "VirtualMachineError" in line or "OutOfMemoryError" in line:
            return line.split(": ", 1)[-1].strip()
    lines = [x for x in log.read_text(errors="replace").splitlines() if x and not x.startswith((" ", "\t"))]
    return lines[-1][:200] if lines else "no output"


def ensure_input(data: Path) -> None:
    if (data / "generator.json").is_file():
        return
    shutil.rmtree(data, ignore_errors=True)
    sys.path.insert(0, str(REPO))
    from synthetic_data import generate
    t0 = time.monotonic()
    generate(data, n_patients=PIPELINE_PATIENTS, seed=PIPELINE_SEED, fmt="fhir-ndjson", as_of=AS_OF,
             n_pcns=PIPELINE_PCNS)
    print(f"generated {PIPELINE_PATIENTS:,} patients in {time.monotonic() - t0:.1f} s: {data}", flush=True)


def rounds(variants: list[str], workloads: list[str], n: int, work: Path, data: Path, runs: dict, phase: str,
           resume: bool = False) -> None:
    """``n`` rounds, each every variant once per workload, in order (interleaved)."""
    for r in range(1, n + 1):
        for workload in workloads:
            for variant in variants:
                fig = run_child(variant, workload, r if phase == "main" else 100 + r, work, data, resume)
                fig.update({"round": r, "phase": phase})
                runs.setdefault(phase, {}).setdefault(variant, {}).setdefault(workload, []).append(fig)
                brief = ("FAILED " + fig["failed"]) if "failed" in fig else \
                    (f"workload {fig['workload']:.1f} s, process {fig['process']:.1f} s, "
                     f"{fig['jobs']} jobs / {fig['stages']} stages / {fig['tasks']} tasks")
                print(f"[{phase} round {r}] {variant:>12} {workload:>8}: {brief}", flush=True)


def _ok(figs: list[dict]) -> list[dict]:
    return [f for f in figs if "failed" not in f]


def median(figs: list[dict], key: str) -> float | None:
    vals = [f[key] for f in _ok(figs)]
    return statistics.median(vals) if vals else None


def spread(figs: list[dict], key: str) -> float | None:
    """(max − min) / median over rounds: how far apart the same measurement came out."""
    vals = [f[key] for f in _ok(figs)]
    return (max(vals) - min(vals)) / statistics.median(vals) if len(vals) > 1 and statistics.median(vals) else None


def choose_best(phase: dict, workloads: list[str]) -> str:
    """From each group (GROUPS), the fastest choice, and every additive setting, each kept only when
    it beat current by more than the noise, judged by the sum of the workloads' median seconds (a
    variant that failed a run is never chosen)."""
    def total(v: str) -> float | None:
        figs = [phase.get(v, {}).get(w, []) for w in workloads]
        if any(len(_ok(f)) < len(f) or not f for f in figs):
            return None
        return sum(median(f, "workload") for f in figs)
    base = total("current")
    noise = max([s for w in workloads for s in [spread(phase["current"].get(w, []), "workload")] if s] or [0.05])
    better = lambda v: total(v) is not None and base is not None and total(v) < base * (1 - max(noise, 0.03))
    chosen = []
    for group in GROUPS:
        fastest = min((v for v in group if v != "current" and better(v)), key=total, default=None)
        chosen += [fastest] if fastest else []
    additive = [v for v in ADDITIVE_VARIANTS if better(v)]
    if "bcast_1m" in additive and "bcast_off" in additive:       # one threshold: the faster
        additive.remove(max(("bcast_1m", "bcast_off"), key=total))
    return "+".join(chosen + additive) or "current"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="spec workload only, one round (about 10 minutes)")
    ap.add_argument("--work", type=Path, default=None, help="keep event logs, logs and input here")
    ap.add_argument("--variants", nargs="+", default=[v for v in VARIANTS if v not in OPTIONAL], choices=list(VARIANTS),
                    help=f"default: all but {', '.join(OPTIONAL)} (add it by naming it)")
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--best", default="auto",
                    help="'auto' (from the measured rounds), 'none', or variants to combine, e.g. local1,codegen_off")
    ap.add_argument("--resume", action="store_true", help="with --work: reuse the runs an interrupted "
                    "benchmark of the same work folder finished (each is saved as it ends)")
    args = ap.parse_args()
    if args.resume and args.work is None:
        ap.error("--resume needs --work")
    if args.quick:
        args.rounds, args.workloads = 1, ["spec"]
    if "current" not in args.variants:
        args.variants.insert(0, "current")
    work = (args.work or Path(tempfile.mkdtemp(prefix="casefind-test-settings-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    data = work / "input"
    started = time.monotonic()
    try:
        if "pipeline" in args.workloads:
            ensure_input(data)
        runs: dict = {}
        best = None
        if args.best not in ("auto", "none"):       # named: measured in the same rounds as the others
            best = "+".join(v.strip() for v in args.best.split(",") if v.strip() != "current") or "current"
            for part in best.split("+"):
                if part not in VARIANTS:
                    sys.exit(f"--best: unknown variant {part!r} (known: {', '.join(VARIANTS)})")
        variants = args.variants + ([best] if best and best not in args.variants else [])
        rounds(variants, args.workloads, args.rounds, work, data, runs, "main", args.resume)
        if args.best == "auto":                     # chosen from those rounds, then measured against current again
            best = choose_best(runs["main"], args.workloads)
            print(f"best combination: {best}", flush=True)
            if best not in runs["main"]:
                rounds(["current", best], args.workloads, args.rounds, work, data, runs, "best", args.resume)
        meta = {"date": dt.date.today().isoformat(), "cores": os.cpu_count(), "rounds": args.rounds,
                "quick": args.quick, "best": best, "minutes": (time.monotonic() - started) / 60,
                "load_before": os.getloadavg()[0], "python": sys.version.split()[0],
                "resumed": sum(f.get("resumed", False) for v in runs.values() for by in v.values()
                               for figs in by.values() for f in figs),
                "command": "python benchmarks/test_settings.py " + " ".join(sys.argv[1:])}
        report = {"meta": meta, "runs": runs, "current": CURRENT,
                  "best_settings": session_settings(best) if best else None}
        (work / "report.json").write_text(json.dumps(report, indent=1))
        print(f"report: {work / 'report.json'}")
        write(report)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


# --- the report ------------------------------------------------------------------------------

def _fmt(x: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "n/a" if x is None else f"{x:{spec}}{suffix}"


def _counts(figs: list[dict]) -> str:
    """jobs / stages / tasks; one figure when every round agrees (they are deterministic), else all."""
    out = []
    for key in ("jobs", "stages", "tasks"):
        vals = sorted({f[key] for f in _ok(figs)})
        out.append("/".join(map(str, vals)) if vals else "n/a")
    return " / ".join(out)


def _label(variant: str) -> str:
    return " + ".join(variant.split("+"))


def _runs(figs: list[dict]) -> str:
    ok = len(_ok(figs))
    bad = [f.get("why", f["failed"]) for f in figs if "failed" in f]
    return f"{ok}" if not bad else f"{ok} of {len(figs)} (failed: {'; '.join(bad)})"


def _jvm(figs: list[dict], key: str, spec: str = ".0f") -> str:
    vals = [f["jvm"][key] for f in _ok(figs) if "jvm" in f]
    return _fmt(statistics.median(vals) if vals else None, spec)


def table(report: dict) -> list[str]:
    """One row per phase, workload and variant; settings shown where they differ from current's."""
    runs = report["runs"]
    lines = ["| phase | variant | workload | runs | workload s | × current | spread | session s | process s | "
             "× current (process) | jobs / stages / tasks | code cache peak / size MiB | compiler disabled | "
             "JIT s | settings (event log) |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---|"]
    for phase, variants in runs.items():
        for workload in WORKLOADS:
            cur = variants.get("current", {}).get(workload, [])
            cw, cp = median(cur, "workload"), median(cur, "process")
            base = _ok(cur)[-1]["settings"] if _ok(cur) else {}
            for variant, by in variants.items():
                figs = by.get(workload)
                if not figs:
                    continue
                if not _ok(figs):
                    lines.append(f"| {phase} | {_label(variant)} | {workload} | {_runs(figs)} |" + " |" * 11)
                    continue
                w, p = median(figs, "workload"), median(figs, "process")
                s = _ok(figs)[-1]["settings"]
                shown = ", ".join(f"{k} {v}" for k, v in s.items() if variant == "current" or base.get(k) != v)
                full = sum(f.get("code_cache_full", False) for f in _ok(figs))
                lines.append(f"| {phase} | {_label(variant)} | {workload} | {_runs(figs)} | {_fmt(w)} | "
                             f"{_fmt(w / cw if cw else None, '.2f', '×')} | {_fmt(spread(figs, 'workload'), '.0%')} | "
                             f"{_fmt(median(figs, 'session'))} | {_fmt(p)} | "
                             f"{_fmt(p / cp if cp else None, '.2f', '×')} | {_counts(figs)} | "
                             f"{_jvm(figs, 'code_cache_peak_mib')} / {_jvm(figs, 'code_cache_mib')} | "
                             f"{full} of {len(_ok(figs))} | {_jvm(figs, 'jit_s', '.1f')} | {shown or 'as current'} |")
    return lines


def parts_table(report: dict) -> list[str]:
    """Where the spec workload's seconds go (medians), per variant of the singles phase."""
    lines = ["| phase | variant | record s | facts s | 9 cohorts s | 20 overrides s | per evaluation s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for phase, variants in report["runs"].items():
        for variant, by in variants.items():
            figs = _ok(by.get("spec", []))
            if not figs:
                continue
            med = {k: statistics.median(f["parts"][k] for f in figs) for k in ("record", "facts", "cohorts", "overrides")}
            n = figs[0]["parts"]["evaluations"]
            lines.append(f"| {phase} | {_label(variant)} | {med['record']:.1f} | {med['facts']:.1f} | "
                         f"{med['cohorts']:.1f} | {med['overrides']:.1f} | "
                         f"{(med['cohorts'] + med['overrides']) / n:.2f} |")
    return lines


def write(report: dict) -> None:
    meta = report["meta"]
    best = report.get("best_settings")
    all_spreads = [spread(figs, "workload") for v in report["runs"].values() for by in v.values()
                   for figs in by.values()]
    all_spreads = [s for s in all_spreads if s is not None]
    head = [BEGIN, "## Test settings: which SparkSession settings make the test suite fastest "
                   "(`python benchmarks/test_settings.py`)", "",
            f"{meta['date']}, `{meta['command'].strip()}` on this machine ({meta['cores']} cores, shared with other "
            f"work: load average {meta['load_before']:.1f} at the end), {meta['rounds']} round(s), "
            f"{meta['minutes']:.0f} minutes in all"
            + (f" (interrupted, then resumed with `--resume`: {meta['resumed']} runs kept from before)"
               if meta.get("resumed") else "") + ". Each (variant, workload) is its own fresh Python process with "
            "Spark's event log on, variants interleaved round after round; every variant is `tests/conftest.py`'s "
            "session (local[2], shuffle.partitions 2, default.parallelism 2, driver memory 4g, "
            f"`{CURRENT['java_options']}`) plus its change. Workloads: **spec** = a {SPEC_PATIENTS}-patient "
            "record built with `tests/builders.py`, facts built once, every cohort evaluated and collected, then "
            f"{len(SPEC_OVERRIDES)} `hypertension` overrides (the spec tests' shape); **pipeline** = "
            f"`engine.pipeline.run` of every cohort, model trained, on {PIPELINE_PATIENTS:,} generated patients "
            "(FHIR NDJSON, the suite's reference run). \"workload s\" = timed inside the process once the session "
            "is up; \"session s\" = `get_spark` (JVM start); \"process s\" = the whole process; medians over "
            "rounds (of the runs that finished); \"spread\" = (max − min) / median over rounds; jobs / stages / "
            "tasks from the event log (two figures where the rounds differed); code cache = the driver JVM's JIT "
            "code cache, peak used / reserved (JMX); \"compiler disabled\" = runs whose JVM printed \"CodeCache is "
            "full. Compiler has been disabled\"; JIT s = the JVM's total compilation time; settings are read back "
            "from the event log's environment update (shown for current, then only where a variant differs). "
            "Compare the ratios: absolute seconds move with the machine's load.", ""]
    lines = table(report)
    notes = ["", "Where the spec workload's seconds go (medians):", "", *parts_table(report), ""]
    if all_spreads:
        notes.append(f"Noise: the same variant's workload seconds differed between rounds by "
                     f"{min(all_spreads):.0%}–{max(all_spreads):.0%} of their median "
                     f"(median spread {statistics.median(all_spreads):.0%}).")
    uis = {f["settings"].get("ui") for v in report["runs"].values() for by in v.values() for figs in by.values()
           for f in _ok(figs)}
    if uis:
        notes.append(f"The UI: `spark.ui.enabled` = {', '.join(sorted(map(str, uis)))} in every run's event log "
                     "(environment update); `engine.spark.DEFAULTS` already turns it off.")
    if best:
        notes += ["", f"Best combination measured: **{_label(meta['best'])}**, i.e. "
                      f"`get_spark(master=\"{best['master']}\", extra={json.dumps(best['extra'])}, "
                      f"java_options=\"{best['java_options']}\")`."]
    text = "\n".join(head + lines + notes)
    print(text)
    write_section(BEGIN, END, text + "\n" + END + "\n")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3], Path(sys.argv[4]), Path(sys.argv[5]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--rewrite":
        write(json.loads(Path(sys.argv[2]).read_text()))
    else:
        main()
