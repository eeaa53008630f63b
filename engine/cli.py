"""``casefind``: generate a population, ingest, run the pipeline, train, run the demo, explain a cohort,
list the codelists.

A problem the user can fix (bad argument, missing input, bad config) is one line on stderr and exit
status 2, found before Spark starts wherever it can be; a failure during the run is one line naming
its cause (``engine.failures``) and exit status 1 (set CASEFIND_DEBUG=1 for the trace).
Nothing identifiable is ever printed.
"""
from __future__ import annotations

import argparse
import calendar
import datetime as dt
import logging
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path

from engine import __version__
from engine.config import ConfigError, load_facts_params

FORMATS = ("fhir-ndjson", "fhir-bundles", "gp-extract")
DEMO_AS_OF = dt.date(2026, 3, 31)


def _date(text: str) -> dt.date:
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-03-31")
    year, month, day = map(int, m.groups())
    if not 1 <= month <= 12:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: there is no month {month}")
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: {calendar.month_name[month]} {year} has {days} days")
    return dt.date(year, month, day)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {text!r}")
    return value


EXAMPLES = {
    "generate": "casefind generate --patients 2000 --pcns 2 --format fhir-ndjson --out data/synthetic",
    "ingest": "casefind ingest --input /data/export-2026-03 --out /data/record-2026-03",
    "run": "casefind run --input /data/export-2026-03 --as-of 2026-03-31 --out /data/worklists\n"
           "  casefind run --record /data/record-2026-03 --as-of 2026-03-31 --out /data/worklists --cohorts smr,fh\n"
           "  CASEFIND_PSEUDO_KEY=... casefind run --input DIR --as-of 2026-03-31 --out DIR --pseudonymise",
    "train": "casefind train --input /data/export-2026-03 --as-of 2026-03-31 --out /data/model-2026-03",
    "demo": "casefind demo --dir casefind-demo",
    "explain": "casefind explain hypertension | less",
    "view": "casefind view conf/views/events.Observation.json --input /data/export-2026-03 --out observations.csv",
    "sweep": "casefind sweep hypertension --set clinic_stage1_systolic=135,140,145 --record /data/record-2026-03 "
             "--as-of 2026-03-31 --out /data/sweep",
    "codelists": "casefind codelists\n  casefind codelists --json > codelists.json",
}


def _sub(sub, name: str, help_: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {EXAMPLES[name]}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _format_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default=None, help="input layout (detected from file names)")


def _spark_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--master", default=None, metavar="URL",
                   help="Spark master (default local[*]; under spark-submit, spark-submit's)")
    p.add_argument("--driver-memory", default=None, metavar="SIZE",
                   help="memory of the local Spark driver, which runs every task in local mode (default 4g)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="casefind", description="PCN case-finding engine: records in, ranked worklists per PCN out.",
        epilog="examples:\n" + "\n".join(f"  {EXAMPLES[k]}" for k in ("demo", "run", "explain"))
               + "\n\n'casefind COMMAND --help' explains each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"casefind {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = _sub(sub, "generate", "write a deterministic synthetic population and its truth")
    g.add_argument("--patients", type=_positive, default=5000, help="number of patients (default 5000)")
    g.add_argument("--seed", type=int, default=42, help="random seed: the same seed writes the same files")
    g.add_argument("--format", choices=FORMATS, default="fhir-ndjson", help="input layout to write")
    g.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write (created)")
    g.add_argument("--as-of", type=_date, default=DEMO_AS_OF, metavar="YYYY-MM-DD",
                   help="run date the planted cases are relative to")
    g.add_argument("--pcns", type=_positive, default=None, help="number of PCNs (default: one per 40,000 patients)")

    i = _sub(sub, "ingest", "read records into a canonical record (for later 'run --record')")
    i.add_argument("--input", required=True, type=Path, metavar="DIR",
                   help="folder (or one file) of FHIR NDJSON, FHIR Bundles or GP-extract tables; never written")
    _format_option(i)
    i.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="folder for canonical/, quarantine/, ingest_report.json (identifiable: owner-only)")
    _spark_options(i)

    r = _sub(sub, "run", "evaluate every cohort and write ranked worklists per PCN")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, metavar="DIR",
                     help="folder (or one file) of FHIR NDJSON, FHIR Bundles or GP-extract tables; never written")
    src.add_argument("--record", type=Path, metavar="DIR",
                     help="output folder of an earlier 'casefind ingest' or 'casefind run': no ingest")
    _format_option(r)
    r.add_argument("--as-of", required=True, type=_date, metavar="YYYY-MM-DD",
                   help="the run's index date; every window ends on it")
    r.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="output folder, replaced only when the run succeeds; never inside or around the input")
    _spark_options(r)
    r.add_argument("--cohorts", default=None, metavar="A,B",
                   help="comma-separated cohort names (default: all; 'casefind explain' lists them)")
    r.add_argument("--pseudonymise", action="store_true",
                   help="patient ids as keyed hashes, no NHS number, name or birth date, no canonical record in "
                        "--out; needs CASEFIND_PSEUDO_KEY or --pseudo-key-file")
    r.add_argument("--pseudo-key-file", type=Path, default=None, metavar="FILE",
                   help="file holding the pseudonymisation key (instead of CASEFIND_PSEUDO_KEY)")
    r.add_argument("--work", type=Path, default=None, metavar="DIR",
                   help="with --pseudonymise: keep the identifiable canonical record and quarantine here "
                        "(default: a private temporary folder deleted after the run)")
    r.add_argument("--model", type=Path, default=None, metavar="DIR",
                   help="admission-risk model folder from 'casefind train' (default: train on this input's last year)")

    t = _sub(sub, "train", "fit the 12-month emergency-admission risk model and write its model card")
    t.add_argument("--input", required=True, type=Path, metavar="DIR", help="records to train on; never written")
    _format_option(t)
    t.add_argument("--as-of", required=True, type=_date, metavar="YYYY-MM-DD",
                   help="outcomes are admissions in the 12 months up to this date; features a year earlier")
    t.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="artifact folder (model.joblib, model_card.json/.md)")
    _spark_options(t)

    d = _sub(sub, "demo", "generate ~20k patients over 3 PCNs, run, and say where the worklists are")
    d.add_argument("--dir", type=Path, default=Path("casefind-demo"), metavar="DIR",
                   help="demo folder: input/ is (re)generated, out/ holds the worklists (default casefind-demo)")
    d.add_argument("--patients", type=_positive, default=20000, help="number of patients (default 20000)")
    d.add_argument("--pcns", type=_positive, default=3, help="number of PCNs (default 3)")
    d.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    _spark_options(d)

    w = _sub(sub, "sweep", "evaluate one cohort for several values of one parameter (one facts table)")
    w.add_argument("cohort", help="cohort name ('casefind explain' lists them)")
    w.add_argument("--set", required=True, dest="setting", metavar="KEY=V1,V2,...",
                   help="the parameter and its values, in order, e.g. bp_window_months=12,18,24")
    wsrc = w.add_mutually_exclusive_group(required=True)
    wsrc.add_argument("--record", type=Path, metavar="DIR", help="canonical record of an earlier ingest or run")
    wsrc.add_argument("--input", type=Path, metavar="DIR", help="input folder (ingested first); never written")
    _format_option(w)
    w.add_argument("--as-of", required=True, type=_date, metavar="YYYY-MM-DD", help="the run's index date")
    w.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="output folder: per PCN, counts per value and band, and who enters or leaves")
    _spark_options(w)

    v = _sub(sub, "view", "run one SQL on FHIR v2 ViewDefinition over FHIR files and write its rows")
    v.add_argument("view", type=Path, help="the ViewDefinition (JSON), e.g. one of conf/views/")
    v.add_argument("--input", required=True, type=Path, metavar="DIR",
                   help="folder (or one file) of FHIR NDJSON or Bundles; never written")
    v.add_argument("--out", required=True, type=Path, metavar="FILE",
                   help="FILE.csv or FILE.parquet (created owner-only; not inside --input)")
    _spark_options(v)

    c = _sub(sub, "codelists", "list the codelists in use: source, version, rows, code systems, SHA-256 of each file")
    c.add_argument("--json", action="store_true", help="print JSON (every field in full) instead of the table")

    e = _sub(sub, "explain", "print a cohort's rule in plain English with current parameters")
    e.add_argument("cohort", help="cohort name: smr, care_home, hypertension, af_undiagnosed, af_anticoagulation, "
                                  "fh, heart_failure, cancer_safety_netting, anticipatory_care")
    return ap


def _spark(args):
    from engine.spark import get_spark
    extra = {"spark.driver.memory": args.driver_memory} if getattr(args, "driver_memory", None) else None
    return get_spark(master=args.master, loopback=os.environ.get("CASEFIND_LOOPBACK", "1") == "1", extra=extra)


def cmd_generate(args) -> None:
    from synthetic_data import generate
    t0 = time.monotonic()
    summary = generate(args.out, n_patients=args.patients, seed=args.seed, fmt=args.format, as_of=args.as_of,
                       n_pcns=args.pcns)
    print(f"wrote {args.patients} patients ({args.format}) to {args.out} in {time.monotonic() - t0:.1f} s; "
          f"truth: {args.out / 'truth.csv'}")
    return summary


def _cohort_names(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def cmd_ingest(args) -> None:
    from engine.pipeline import check_run_paths, ingest_record, quarantined_counts
    from engine.preflight import check_config
    check_config()
    check_run_paths(args.input, args.out)
    manifest = ingest_record(_spark(args), args.input, args.out, fmt=args.format)
    totals = manifest["ingest"]["totals"]
    at_read, at_canonical = quarantined_counts(manifest["ingest"])
    print(f"canonical record: {args.out} ({manifest['ingest']['canonical_rows'].get('patients')} patients; "
          f"{totals['read']} read, {totals['ingested']} ingested, {at_read + at_canonical} quarantined "
          f"({at_read} at read, {at_canonical} at the canonical checks), {totals['skipped']} skipped)")


def cmd_run(args) -> None:
    from engine.pipeline import check_run_paths, run
    from engine.preflight import check_config
    from engine.pseudonym import Pseudonymiser, load_key
    cohorts = check_config(_cohort_names(args.cohorts))
    if (args.work or args.pseudo_key_file) and not args.pseudonymise:
        raise ConfigError("--work and --pseudo-key-file only apply with --pseudonymise")
    if args.model is not None and not (args.model / "model.joblib").is_file():
        raise ConfigError(f"no model at {args.model} (expected model.joblib from casefind train)")
    check_run_paths(args.input, args.out, args.record, args.work)
    pseudonymiser = Pseudonymiser(load_key(args.pseudo_key_file)) if args.pseudonymise else None
    manifest = run(_spark(args), args.input, args.as_of, args.out, fmt=args.format, cohorts=cohorts,
                   pseudonymiser=pseudonymiser, model=args.model, record=args.record, work=args.work)
    for name, c in manifest["cohorts"].items():
        print(f"{name}: {c['listed']} patients listed across {len(manifest['pcns'])} PCN folder(s)")
    print(f"worklists and manifest: {args.out}")


def _fmt(v, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def cmd_demo(args) -> None:
    from engine.pipeline import run
    from engine.preflight import check_config
    from synthetic_data import generate
    check_config()
    data, out = args.dir / "input", args.dir / "out"
    if data.exists():
        if not (data / "generator.json").is_file():
            raise ConfigError(f"{data} exists and was not written by casefind generate; choose another --dir")
        shutil.rmtree(data)   # the demo's own generated input: regenerate rather than refuse
    t0 = time.monotonic()
    generate(data, n_patients=args.patients, seed=args.seed, fmt="fhir-ndjson", as_of=DEMO_AS_OF, n_pcns=args.pcns)
    print(f"generated {args.patients} patients over {args.pcns} PCNs in {time.monotonic() - t0:.1f} s: {data}")
    manifest = run(_spark(args), data, DEMO_AS_OF, out, fmt="fhir-ndjson")
    print(f"run as of {DEMO_AS_OF} finished in {time.monotonic() - t0:.1f} s in all")
    print("one folder per PCN: worklists (<name>.csv: patients listed), gap_profile.csv, attrition.csv, "
          "summary.html")
    for pcn in manifest["pcns"]:
        counts = ", ".join(f"{name} {c['by_pcn'][pcn]}" for name, c in manifest["cohorts"].items())
        counts += f", inequalities {manifest['inequalities']['by_pcn'][pcn]}"
        print(f"  {out / pcn}/  {counts}")
    risk = manifest["risk_model"]
    held = risk.get("held_out") or {}
    if held.get("auroc") is not None:
        print(f"risk model ({risk['family']}, not QAdmissions): held-out AUROC {held['auroc']:.3f}"
              + _oracle_text(held)
              + f", calibration slope {_fmt(held.get('calibration_slope'))}; model card: {out / 'model' / 'model_card.md'}")
    else:
        print(f"risk model: {risk['status']}")
    print(f"manifest: {out / 'manifest.json'}")


def _oracle_text(ev: dict) -> str:
    """" (best from the record 0.760, oracle 0.780)" for a generated population, "" otherwise."""
    parts = [f"{label} {ev[key]:.3f}" for key, label in (("record_oracle_auroc", "best from the record"),
                                                           ("oracle_auroc", "oracle")) if ev.get(key) is not None]
    return f" ({', '.join(parts)})" if parts else ""


def cmd_train(args) -> None:
    import tempfile

    from engine.ingest import ingest
    from engine.record import Record
    from engine.risk.history import train_from_record
    from engine.preflight import check_config
    check_config()
    if not args.input.exists():
        raise ConfigError(f"input not found: {args.input}")
    spark = _spark(args)
    with tempfile.TemporaryDirectory(prefix="casefind-train-") as tmp:
        result = ingest(spark, args.input, args.format, Path(tmp))
        trained = train_from_record(Record.from_tables(result.tables), args.as_of, args.out, source=str(args.input))
    ev = trained.card["evaluation"]
    print(f"{trained.model.family}: held-out AUROC {_fmt(ev.get('auroc'), 3)}{_oracle_text(ev)}, "
          f"calibration slope {_fmt(ev.get('calibration_slope'), 3)}, "
          f"intercept {_fmt(ev.get('calibration_intercept'), 3)}")
    print(f"model and model card: {args.out} (not QAdmissions)")


def _sweep_values(setting: str) -> tuple[str, list]:
    """'key=v1,v2' → (key, [v1, v2]) with each value read as YAML reads it (12 → int, 0.5 → float)."""
    import yaml
    key, sep, text = setting.partition("=")
    items = [v.strip() for v in text.split(",") if v.strip()]
    if not sep or not key.strip() or len(items) < 2:
        raise ConfigError(f"--set {setting!r}: expected KEY=V1,V2[,...] with at least two values")
    return key.strip(), [yaml.safe_load(v) for v in items]


def cmd_sweep(args) -> None:
    from engine.pipeline import check_run_paths, sweep_run
    from engine.preflight import check_config
    check_config([args.cohort])
    key, values = _sweep_values(args.setting)
    check_run_paths(args.input, args.out, args.record)
    manifest = sweep_run(_spark(args), args.input, args.as_of, args.out, args.cohort, key, values,
                         record=args.record, fmt=args.format)
    print(f"{args.cohort}.{key} over {', '.join(map(str, values))}: {len(manifest['pcns'])} PCN folder(s) in {args.out}")


def cmd_view(args) -> None:
    from engine.ingest.view_file import write_view
    n = write_view(_spark(args), args.view, args.input, args.out)
    print(f"{args.view.name}: {n} row(s) written to {args.out}")


def cmd_explain(args) -> None:
    from engine.cohorts import COHORTS
    if args.cohort not in COHORTS:
        raise ConfigError(f"unknown cohort {args.cohort!r} (known: {', '.join(COHORTS)})")
    print(COHORTS[args.cohort].explain(facts_params=load_facts_params()))


def cmd_codelists(args) -> None:
    import json
    from engine.codelists import codelist_infos
    infos = codelist_infos()
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=1))
        return
    # one line per list; a list drawn from several published lists continues on a line per source
    table = [("NAME", "ROWS", "SYSTEMS", "SHA256", "SOURCE", "VERSION")]
    for i in infos:
        sources = [(s.short(), s.version or "-") for s in i.sources] or \
            [("no published counterpart" if i.no_counterpart else "-", "-")]
        table.append((i.name, str(i.rows), ",".join(i.systems) or "-", i.sha256, *sources[0]))
        table += [("", "", "", "", *more) for more in sources[1:]]
    widths = [max(len(row[k]) for row in table) for k in range(len(table[0]) - 1)]
    for row in table:
        cells = [cell.rjust(w) if k == 1 else cell.ljust(w) for k, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join(cells + [row[-1]]).rstrip())
    print(f"{len(infos)} codelists, {sum(i.rows for i in infos)} rows")


def _terminated(signum, frame):
    # SIGTERM (a scheduler's cancel, a cluster manager's kill) unwinds like Ctrl-C, so the partial
    # output folder and any private work folder are removed on the way out.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    logging.getLogger("py4j").setLevel(logging.WARNING)   # its INFO lines are connection chatter
    commands = {"generate": cmd_generate, "ingest": cmd_ingest, "run": cmd_run, "demo": cmd_demo,
                "explain": cmd_explain, "train": cmd_train, "sweep": cmd_sweep, "view": cmd_view,
                "codelists": cmd_codelists}
    debug = os.environ.get("CASEFIND_DEBUG") == "1"
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)
    try:
        commands[args.command](args)
        sys.stdout.flush()
    except BrokenPipeError:
        # `casefind explain x | head`: the reader has gone, which is not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        if debug:
            raise
        print(f"casefind {args.command}: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"casefind {args.command}: interrupted; no output was replaced", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 — the one place a run's failure becomes one line
        if debug:
            raise
        from engine.failures import describe
        print(f"casefind {args.command}: failed: {describe(exc)} (set CASEFIND_DEBUG=1 for the full trace)",
              file=sys.stderr)
        return 1
    return 0


def _stop_spark() -> None:
    # Stop the application before the interpreter exits: otherwise the JVM's shutdown races the
    # standalone workers, which then log a failed relaunch per executor and mark the application
    # FAILED in the master although the run succeeded.
    from pyspark.sql import SparkSession
    session = SparkSession.getActiveSession()
    if session is not None:
        try:
            session.stop()
        except Exception:  # noqa: BLE001 — the run's status is decided; a JVM already gone needs no stop
            pass


def run_job(command: str, argv: list[str], conf: Path) -> int:
    """What a spark-submit entry point in ``jobs/`` runs: ``casefind COMMAND ARGV`` with ``conf`` as
    the configuration folder unless CASEFIND_CONF names one (with --py-files the driver imports the
    engine from the zip, beside which there is no conf/), then the Spark application stopped."""
    os.environ.setdefault("CASEFIND_CONF", str(conf))
    try:
        return main([command, *argv])
    finally:
        _stop_spark()


if __name__ == "__main__":
    sys.exit(main())
