"""``casefind``: generate a population, run the pipeline, run the demo, explain a cohort.

A problem the user can fix (bad argument, missing input, bad config) is one line on stderr and exit
status 2; anything unexpected is one line and exit status 1 (set CASEFIND_DEBUG=1 for the trace).
Nothing identifiable is ever printed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from engine.config import ConfigError

FORMATS = ("fhir-ndjson", "fhir-bundles", "gp-extract")
DEMO_AS_OF = dt.date(2026, 3, 31)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="casefind", description="PCN case-finding engine")
    sub = ap.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a deterministic synthetic population and its truth")
    g.add_argument("--patients", type=_positive, default=5000)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--format", choices=FORMATS, default="fhir-ndjson")
    g.add_argument("--out", required=True, type=Path)
    g.add_argument("--as-of", type=_date, default=DEMO_AS_OF, help="run date the planted cases are relative to")
    g.add_argument("--pcns", type=_positive, default=None, help="number of PCNs (default: one per 40,000 patients)")

    r = sub.add_parser("run", help="ingest records and write ranked worklists per PCN")
    r.add_argument("--input", required=True, type=Path)
    r.add_argument("--format", choices=FORMATS, default=None, help="detected from the folder when omitted")
    r.add_argument("--as-of", required=True, type=_date, help="the run's index date; every window ends on it")
    r.add_argument("--out", required=True, type=Path)
    r.add_argument("--master", default=None, help="Spark master (default local[*])")
    r.add_argument("--cohorts", default=None, help="comma-separated cohort names (default: all)")
    r.add_argument("--pseudonymise", action="store_true", help="leave NHS number, name and birth date out")
    r.add_argument("--model", type=Path, default=None,
                   help="admission-risk model folder from `casefind train` (default: train on this input's last year)")

    t = sub.add_parser("train", help="fit the 12-month emergency-admission risk model and write its model card")
    t.add_argument("--input", required=True, type=Path)
    t.add_argument("--format", choices=FORMATS, default=None, help="detected from the folder when omitted")
    t.add_argument("--as-of", required=True, type=_date,
                   help="outcomes are admissions in the 12 months up to this date; features a year earlier")
    t.add_argument("--out", required=True, type=Path, help="artifact folder (model.joblib, model_card.json/.md)")
    t.add_argument("--master", default=None, help="Spark master (default local[*])")

    d = sub.add_parser("demo", help="generate ~20k patients over 3 PCNs, run, and say where the worklists are")
    d.add_argument("--dir", type=Path, default=Path("casefind-demo"))
    d.add_argument("--patients", type=_positive, default=20000)
    d.add_argument("--pcns", type=_positive, default=3)
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--master", default=None)

    e = sub.add_parser("explain", help="print a cohort's rule in plain English with current parameters")
    e.add_argument("cohort")
    return ap


def _spark(master: str | None):
    from engine.spark import get_spark
    return get_spark(master=master, loopback=os.environ.get("CASEFIND_LOOPBACK", "1") == "1")


def cmd_generate(args) -> None:
    from synthetic_data import generate
    t0 = time.monotonic()
    summary = generate(args.out, n_patients=args.patients, seed=args.seed, fmt=args.format, as_of=args.as_of,
                       n_pcns=args.pcns)
    print(f"wrote {args.patients} patients ({args.format}) to {args.out} in {time.monotonic() - t0:.1f} s; "
          f"truth: {args.out / 'truth.csv'}")
    return summary


def cmd_run(args) -> None:
    from engine.pipeline import run
    cohorts = [c.strip() for c in args.cohorts.split(",")] if args.cohorts else None
    if not args.input.exists():
        raise ConfigError(f"input not found: {args.input}")
    if args.model is not None and not (args.model / "model.joblib").is_file():
        raise ConfigError(f"no model at {args.model} (expected model.joblib from casefind train)")
    manifest = run(_spark(args.master), args.input, args.as_of, args.out, fmt=args.format, cohorts=cohorts,
                   pseudonymised=args.pseudonymise, model=args.model)
    for name, c in manifest["cohorts"].items():
        print(f"{name}: {c['listed']} patients listed across {len(manifest['pcns'])} PCN folder(s)")
    print(f"worklists and manifest: {args.out}")


def _fmt(v, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def cmd_demo(args) -> None:
    from engine.pipeline import run
    from synthetic_data import generate
    data, out = args.dir / "input", args.dir / "out"
    if data.exists():
        if not (data / "generator.json").is_file():
            raise ConfigError(f"{data} exists and was not written by casefind generate; choose another --dir")
        shutil.rmtree(data)   # the demo's own generated input: regenerate rather than refuse
    t0 = time.monotonic()
    generate(data, n_patients=args.patients, seed=args.seed, fmt="fhir-ndjson", as_of=DEMO_AS_OF, n_pcns=args.pcns)
    print(f"generated {args.patients} patients over {args.pcns} PCNs in {time.monotonic() - t0:.1f} s: {data}")
    manifest = run(_spark(args.master), data, DEMO_AS_OF, out, fmt="fhir-ndjson")
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
    if not args.input.exists():
        raise ConfigError(f"input not found: {args.input}")
    spark = _spark(args.master)
    with tempfile.TemporaryDirectory(prefix="casefind-train-") as tmp:
        result = ingest(spark, args.input, args.format, Path(tmp))
        trained = train_from_record(Record.from_tables(result.tables), args.as_of, args.out, args.input)
    ev = trained.card["evaluation"]
    print(f"{trained.model.family}: held-out AUROC {_fmt(ev.get('auroc'), 3)}{_oracle_text(ev)}, "
          f"calibration slope {_fmt(ev.get('calibration_slope'), 3)}, "
          f"intercept {_fmt(ev.get('calibration_intercept'), 3)}")
    print(f"model and model card: {args.out} (not QAdmissions)")


def cmd_explain(args) -> None:
    from engine.cohorts import COHORTS
    if args.cohort not in COHORTS:
        raise ConfigError(f"unknown cohort {args.cohort!r} (known: {', '.join(COHORTS)})")
    print(COHORTS[args.cohort].explain())


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    commands = {"generate": cmd_generate, "run": cmd_run, "demo": cmd_demo, "explain": cmd_explain,
                "train": cmd_train}
    try:
        commands[args.command](args)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        if os.environ.get("CASEFIND_DEBUG") == "1":
            raise
        print(f"casefind {args.command}: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"casefind {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 — the one place a run's failure becomes one line
        if os.environ.get("CASEFIND_DEBUG") == "1":
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"casefind {args.command}: failed: {type(exc).__name__}: {first} "
              f"(set CASEFIND_DEBUG=1 for the full trace)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
