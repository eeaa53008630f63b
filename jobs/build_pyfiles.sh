#!/bin/sh
# Packs engine/ into the zip that `spark-submit --py-files` puts on the PYTHONPATH of the driver and
# of every executor, so executors need no casefind install of their own.
#
#   jobs/build_pyfiles.sh [OUT.zip]        (default: dist/casefind-engine.zip)
#
# Only the engine's Python files go in. Configuration and codelists are read on the driver (the
# jobs point CASEFIND_CONF at this checkout's conf/) and shipped to executors inside Spark plans;
# pandas, pyarrow and scikit-learn must already be in the executors' PYSPARK_PYTHON.
# Entries carry a fixed timestamp so the same sources give the same zip. Rebuild after any change
# to engine/: under spark-submit the driver imports the engine from this zip too.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$repo/dist/casefind-engine.zip"}
mkdir -p "$(dirname "$out")"
"${PYTHON:-python3}" - "$repo" "$out" <<'PY'
import sys
import zipfile
from pathlib import Path

repo, out = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
partial = out.with_name(out.name + ".partial")
with zipfile.ZipFile(partial, "w") as z:
    for f in sorted((repo / "engine").rglob("*.py")):
        entry = zipfile.ZipInfo(f.relative_to(repo).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
        entry.external_attr = 0o644 << 16
        z.writestr(entry, f.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
partial.replace(out)
print(out)
PY
