"""spark-submit entry point for the second stage alone: canonical record → worklists, no ingest.

    jobs/build_pyfiles.sh
    spark-submit --master <master> --properties-file conf/spark/local-cluster.conf \\
        --py-files dist/casefind-engine.zip jobs/worklists.py --record RECORD_DIR --as-of YYYY-MM-DD \\
        --out DIR [--cohorts a,b] [--pseudonymise ...] [--model DIR]

``--record`` is the output of ``jobs/ingest.py`` (or of an earlier full run). Takes the other
arguments of ``casefind run``; under spark-submit the master comes from spark-submit.
"""
import os
import sys
from pathlib import Path

# With --py-files the driver imports the engine from the zip, where the engine's default conf/
# (beside the package) does not exist: read this checkout's unless CASEFIND_CONF says otherwise.
os.environ.setdefault("CASEFIND_CONF", str(Path(__file__).resolve().parents[1] / "conf"))

from engine.cli import main  # noqa: E402


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


def _has_record(argv: list[str]) -> bool:
    return any(a == "--record" or a.startswith("--record=") for a in argv)


if __name__ == "__main__":
    argv = sys.argv[1:]
    if not _has_record(argv) and not {"-h", "--help"} & set(argv):
        # without --record this would be jobs/pipeline.py: a second ingest the scheduler did not plan for
        print("jobs/worklists.py: error: --record DIR is required (the output of jobs/ingest.py); "
              "to ingest and evaluate in one job use jobs/pipeline.py", file=sys.stderr)
        sys.exit(2)
    try:
        status = main(["run", *argv])
    finally:
        _stop_spark()
    sys.exit(status)
