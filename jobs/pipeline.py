"""spark-submit entry point for the whole run: ingest → cohorts → worklists → manifest.

    spark-submit --master <master> jobs/pipeline.py --input DIR --as-of YYYY-MM-DD --out DIR

Takes the same arguments as ``casefind run``; under spark-submit the master comes from spark-submit.
"""
import sys

from engine.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
