"""spark-submit entry point for the whole run: ingest → cohorts → worklists → manifest.

    jobs/build_pyfiles.sh
    spark-submit --master <master> --properties-file conf/spark/local-cluster.conf \\
        --py-files dist/casefind-engine.zip jobs/pipeline.py --input DIR --as-of YYYY-MM-DD --out DIR

Takes the same arguments as ``casefind run`` (``--record`` too, though ``jobs/worklists.py`` says so
more plainly); under spark-submit the master comes from spark-submit.
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

if __name__ == "__main__":
    try:
        status = main(["run", *sys.argv[1:]])
    finally:
        _stop_spark()
    sys.exit(status)
