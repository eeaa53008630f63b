"""spark-submit entry point for the first stage alone: input → canonical record.

    jobs/build_pyfiles.sh
    spark-submit --master <master> --properties-file conf/spark/local-cluster.conf \\
        --py-files dist/casefind-engine.zip jobs/ingest.py --input DIR --out RECORD_DIR [--format F]

Takes the same arguments as ``casefind ingest`` and writes ``RECORD_DIR/canonical/<table>/``
(Parquet), ``quarantine/``, ``ingest_report.json`` and ``manifest.json``; ``jobs/worklists.py
--record RECORD_DIR`` evaluates it later. Under spark-submit the master comes from spark-submit.
"""
import sys
from pathlib import Path

from engine.cli import run_job

if __name__ == "__main__":
    sys.exit(run_job("ingest", sys.argv[1:], Path(__file__).resolve().parents[1] / "conf"))
