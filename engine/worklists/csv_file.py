"""Worklist CSVs that open cleanly in a spreadsheet and never execute anything.

RFC 4180 (CRLF, quoted where needed), UTF-8 with a byte-order mark so Excel shows accented names,
one header row, ISO dates, NHS numbers as ``123 456 7890``, and any text cell that a spreadsheet
would read as a formula (leading ``=``, ``+``, ``-``, ``@``, tab or CR) prefixed with ``'``.
"""
from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from typing import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def nhs_number(value) -> str:
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else (str(value) if value else "")


def cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}" if abs(value) < 1e4 else f"{value:.1f}"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([cell(v) for v in row])
            n += 1
    return n
