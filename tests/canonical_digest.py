"""Row-set digests of the canonical tables an ingest writes, for the regression test over the public
FHIR samples (tests/test_ingest_samples.py, tests/data/canonical_digests.json).

A digest is the SHA-256 of a table's rows, each row written as text and the rows sorted, so it
changes when any row is added, lost or altered, whatever the order Spark writes them in. Refresh
the stored digests only when a change to the canonical record is intended, and say why in the
commit:

    python tests/canonical_digest.py --write     # ingest every sample folder, store the digests
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import tempfile
from pathlib import Path

STORE = Path(__file__).resolve().parent / "data" / "canonical_digests.json"


def _text(v) -> str:
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, float):
        return repr(round(v, 9))
    return json.dumps(v, sort_keys=True, default=str)


def row_texts(df) -> list[str]:
    return sorted("\t".join(_text(v) for v in r) for r in df.collect())


def digests(tables: dict) -> dict[str, dict]:
    out = {}
    for name in sorted(tables):
        rows = row_texts(tables[name])
        out[name] = {"rows": len(rows), "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest()}
    return out


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import FHIR_SAMPLES
    from engine.ingest import ingest
    from engine.spark import get_spark
    from test_ingest_samples import FOLDERS

    spark = get_spark(master="local[2]", app_name="canonical-digests", loopback=True)
    stored = {}
    with tempfile.TemporaryDirectory() as tmp:
        for folder, (sub, _) in sorted(FOLDERS.items()):
            res = ingest(spark, FHIR_SAMPLES / folder / sub, None, Path(tmp) / folder)
            stored[folder] = digests(res.tables)
            print(folder, {k: v["rows"] for k, v in stored[folder].items()})
    if "--write" in sys.argv:
        STORE.parent.mkdir(exist_ok=True)
        STORE.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        print(f"wrote {STORE}")


if __name__ == "__main__":
    main()
