"""spark-submit entry point for the whole run: ingest → cohorts → worklists → manifest.

    jobs/build_pyfiles.sh
    spark-submit --master <master> --properties-file conf/spark/local-cluster.conf \\
        --py-files dist/casefind-engine.zip jobs/pipeline.py --input DIR --as-of YYYY-MM-DD --out DIR

Takes the same arguments as ``casefind run`` (``--record`` too, though ``jobs/worklists.py`` says so
more plainly); under spark-submit the master comes from spark-submit.
"""
import sys
from pathlib import Path

from engine.cli import run_job

if __name__ == "__main__":
    sys.exit(run_job("run", sys.argv[1:], Path(__file__).resolve().parents[1] / "conf"))
