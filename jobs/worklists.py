"""spark-submit entry point for the second stage alone: canonical record → worklists, no ingest.

    jobs/build_pyfiles.sh
    spark-submit --master <master> --properties-file conf/spark/local-cluster.conf \\
        --py-files dist/casefind-engine.zip jobs/worklists.py --record RECORD_DIR --as-of YYYY-MM-DD \\
        --out DIR [--cohorts a,b] [--pseudonymise ...] [--model DIR]

``--record`` is the output of ``jobs/ingest.py`` (or of an earlier full run). Takes the other
arguments of ``casefind run``; under spark-submit the master comes from spark-submit.
"""
import sys
from pathlib import Path

from engine.cli import run_job


def _has_record(argv: list[str]) -> bool:
    return any(a == "--record" or a.startswith("--record=") for a in argv)


if __name__ == "__main__":
    argv = sys.argv[1:]
    if not _has_record(argv) and not {"-h", "--help"} & set(argv):
        # without --record this would be jobs/pipeline.py: a second ingest the scheduler did not plan for
        print("jobs/worklists.py: error: --record DIR is required (the output of jobs/ingest.py); "
              "to ingest and evaluate in one job use jobs/pipeline.py", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_job("run", argv, Path(__file__).resolve().parents[1] / "conf"))
