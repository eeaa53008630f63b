"""Property tests where they pay: the few pure (or nearly pure) helpers whose input space is too big
for hand-picked cases — folder names from data, CSV cells, calendar arithmetic, parameter checks and
the §0 implied-issue count.

Every oracle here is written from the documented rule (a docstring, CLINICAL_RULES §0, the calendar),
never by calling the function under test. Budgets are fixed and derandomised so CI is reproducible:
pure properties run 100 examples (40 for the one that writes files); Spark-backed ones evaluate a
whole generated batch (~50 rows) in one query per example, 10 examples each plus the worked cases.
"""
from __future__ import annotations

import calendar
import csv
import datetime as dt
import math
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.config import ConfigError, Param, _ok, load_params
from engine.features import rows as R
from engine.worklists.build import RESERVED_FOLDERS, pcn_folder
from engine.worklists.csv_file import cell, write_csv

D = dt.date
PURE = settings(max_examples=100, deadline=None, derandomize=True, database=None)
SPARK = settings(max_examples=10, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.data_too_large])


# --- 1. PCN folder names ------------------------------------------------------------------------------
# ODS codes as build.py's comment defines them, restated here rather than imported so the property
# still bites if the module's pattern drifts.
ODS = st.from_regex(r"[A-Z0-9]{3,10}", fullmatch=True)
# Strings that have bitten before or that a filesystem treats specially, in odd cases and mixed in
# with arbitrary text, so the hash path and the identity path are both exercised.
AWKWARD = st.sampled_from([".", "..", "/", "\\", "a/b", "U/00001", "U 00001", "U_00001", "u00001", "\x00",
                           "/etc", "C:\\x", "", " ", "UNASSIGNED ", "unassigned", "Unassigned", "MODEL",
                           "Canonical", "quarantine", "manifest.json", "MANIFEST.JSON", "_e3b0c44298fc"])
PCN_IDS = st.one_of(ODS, AWKWARD, st.text(max_size=20), st.sampled_from(sorted(RESERVED_FOLDERS)).map(str.upper))
HASHED = re.compile(r"_[0-9a-f]{12}")


def _assigned(pcn_id: str) -> bool:
    # None and the literal UNASSIGNED share one folder by design: both mean "no PCN".
    return pcn_id != "UNASSIGNED"


@PURE
@given(PCN_IDS.filter(_assigned))
def test_pcn_folder_is_one_safe_path_component(pcn_id):
    folder = pcn_folder(pcn_id)
    assert folder not in ("", ".", "..")
    assert not set(folder) & {"/", "\\", "\x00"}
    # The engine's own folders are compared case-blind: on a case-insensitive disk 'MODEL' is 'model'.
    assert folder.lower() not in RESERVED_FOLDERS and folder != "UNASSIGNED"
    assert len(folder.encode("utf-8")) <= 255
    assert pcn_folder(pcn_id) == folder


@PURE
@given(ODS.filter(lambda c: c.lower() not in RESERVED_FOLDERS and c != "UNASSIGNED"))
def test_an_ods_code_is_its_own_folder(code):
    assert pcn_folder(code) == code


@PURE
@given(st.lists(PCN_IDS.filter(_assigned), min_size=2, max_size=30, unique=True))
def test_different_pcn_ids_never_share_a_folder(ids):
    # Lower-cased too: two folders differing only in case are one folder on macOS and Windows.
    folders = [pcn_folder(i).lower() for i in ids]
    assert len(set(folders)) == len(ids)
    assert "unassigned" not in folders


# a trailing newline once kept an id as its own folder name (re.match with a '$' anchor)
@PURE
@example("U00001\n")
@given(st.tuples(ODS, st.sampled_from(["", "\n", "\r", " ", "\t", "\n\n", ".", "/x"])).map("".join))
def test_a_folder_is_an_ods_code_or_a_hash_and_nothing_else(pcn_id):
    folder = pcn_folder(pcn_id)
    is_ods = re.fullmatch(r"[A-Z0-9]{3,10}", pcn_id) is not None and pcn_id.lower() not in RESERVED_FOLDERS
    if pcn_id == "UNASSIGNED":
        assert folder == "UNASSIGNED"
    elif is_ods:
        assert folder == pcn_id
    else:
        assert HASHED.fullmatch(folder), (pcn_id, folder)


# --- 2. CSV cells ---------------------------------------------------------------------------------------
# The module docstring's promise, restated: a text cell a spreadsheet would read as a formula (leading
# '=', '+', '-', '@', tab or CR) gets a leading apostrophe; nothing else about text changes.
TRIGGERS = "=+-@\t\r"
# Text rich in what breaks CSV (separators, quotes, line ends, NUL) and in formula starts.
NASTY = st.text(alphabet=st.one_of(st.sampled_from(list(',"\'\r\n\x00;=+-@\t ') + ["é", "\u2028"]),
                                   st.characters(exclude_categories=("Cs",))), max_size=12)
TEXT = st.one_of(NASTY, st.tuples(st.sampled_from(list(TRIGGERS)), NASTY).map("".join))


def _shown_text(text: str) -> str:
    return "'" + text if text[:1] in TRIGGERS and text else text


def _read_back(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


@PURE
@given(st.lists(st.lists(TEXT, min_size=1, max_size=4), max_size=6))
def test_text_cells_survive_a_csv_round_trip_with_formulas_neutralised(rows):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.csv"
        header = ["a", "b", "c", "d"]
        assert write_csv(path, header, rows) == len(rows)
        raw = path.read_bytes()
        back = _read_back(path)
    assert raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\r\n")
    assert back[0] == header
    assert back[1:] == [[_shown_text(t) for t in row] for row in rows]
    # The injection promise, checked on what a reader sees rather than on what was written.
    assert not any(v[:1] in TRIGGERS and v for row in back[1:] for v in row)


@PURE
@given(st.lists(st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                          st.dates(D(1900, 1, 1), D(2200, 12, 31)),
                          st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 12, 31))), min_size=1, max_size=8))
def test_non_text_cells_are_written_plainly(values):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.csv"
        write_csv(path, ["v"] * len(values), [values])
        back = _read_back(path)[1]
    for value, shown in zip(values, back):
        if value is None:
            assert shown == ""
        elif isinstance(value, bool):
            assert shown == ("true" if value else "false")
        elif isinstance(value, int):
            # A negative number starts with '-' but is a number, not text: it must stay readable as one.
            assert int(shown) == value and not shown.startswith("'")
        else:
            assert shown == f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


@PURE
@given(st.one_of(TEXT, st.text(max_size=10)))
def test_a_cell_never_starts_a_formula(text):
    shown = cell(text)
    assert shown == ("'" + text if text[:1] in TRIGGERS and text else text)
    assert shown[:1] not in TRIGGERS or not shown


# --- 3. Calendar arithmetic -----------------------------------------------------------------------------
DAYS = st.dates(D(1900, 1, 1), D(2200, 12, 31))
# Month ends and leap days are where clamping happens; weight them in.
EDGE_DAYS = st.one_of(DAYS, st.builds(lambda y, m: D(y, m, calendar.monthrange(y, m)[1]),
                                      st.integers(1900, 2200), st.integers(1, 12)),
                      st.sampled_from([y for y in range(1900, 2201) if calendar.isleap(y)]).map(lambda y: D(y, 2, 29)))
MONTHS = st.integers(-1200, 1200)


def _months_later(day: dt.date, months: int) -> dt.date:
    """The oracle: walk the calendar one month at a time, then clamp the day to that month's length."""
    year, month = day.year, day.month
    for _ in range(abs(months)):
        month += 1 if months > 0 else -1
        if month == 13:
            year, month = year + 1, 1
        elif month == 0:
            year, month = year - 1, 12
    return D(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@PURE
@example(D(2026, 3, 31), -1).via("the docstring's own case: 31 March − 1 month → 28 February")
@example(D(2024, 3, 31), -1).via("and 29 February in a leap year")
@given(EDGE_DAYS, MONTHS)
def test_add_months_matches_the_calendar(day, months):
    assert R.add_months(day, months) == _months_later(day, months)


@PURE
@given(EDGE_DAYS, MONTHS)
def test_add_months_there_and_back_never_lands_later(day, months):
    back = R.add_months(R.add_months(day, months), -months)
    assert back <= day and (back.year, back.month) == (day.year, day.month)
    if day.day <= 28:
        assert back == day


@PURE
@given(EDGE_DAYS, MONTHS, MONTHS)
def test_add_months_in_two_steps_lands_in_the_same_month_no_later(day, a, b):
    two_steps, one_step = R.add_months(R.add_months(day, a), b), R.add_months(day, a + b)
    assert (two_steps.year, two_steps.month) == (one_step.year, one_step.month) and two_steps <= one_step


@PURE
@given(EDGE_DAYS, EDGE_DAYS, MONTHS)
def test_add_months_keeps_date_order(d1, d2, months):
    # A later run date must never give an earlier window start.
    d1, d2 = sorted((d1, d2))
    assert R.add_months(d1, months) <= R.add_months(d2, months)


def _whole_years(birth: dt.date, day: dt.date) -> int:
    """The oracle: count the birthdays reached from birth to day inclusive; a 29 February birthday
    falls on 1 March in a common year (age_on's docstring)."""
    def birthday(year):
        return D(year, 2, 28) + dt.timedelta(days=1) if (birth.month, birth.day) == (2, 29) and \
            not calendar.isleap(year) else D(year, birth.month, birth.day)
    return sum(1 for year in range(birth.year + 1, day.year + 1) if birthday(year) <= day)


LEAP_BIRTHS = st.sampled_from([y for y in range(1900, 2101) if calendar.isleap(y)]).map(lambda y: D(y, 2, 29))
BIRTHS = st.one_of(st.dates(D(1900, 1, 1), D(2100, 12, 31)), LEAP_BIRTHS)


@st.composite
def birth_and_day(draw):
    birth = draw(BIRTHS)
    # Either any later day, or a day within two days of a birthday, where off-by-one errors live.
    if draw(st.booleans()):
        return birth, birth + dt.timedelta(days=draw(st.integers(0, 110 * 366)))
    year = birth.year + draw(st.integers(0, 110))
    near = D(year, birth.month, min(birth.day, calendar.monthrange(year, birth.month)[1]))
    day = near + dt.timedelta(days=draw(st.integers(-2, 2)))
    return birth, max(day, birth)


LEAP_CASES = [(D(2000, 2, 29), D(2001, 2, 28)), (D(2000, 2, 29), D(2001, 3, 1)), (D(2000, 2, 29), D(2004, 2, 28)),
              (D(2000, 2, 29), D(2004, 2, 29)), (D(2000, 2, 29), D(2000, 2, 29)), (D(1996, 2, 29), D(2100, 2, 28)),
              (D(1996, 2, 29), D(2100, 3, 1)), (D(2000, 3, 1), D(2001, 2, 28)), (D(1999, 12, 31), D(2000, 12, 30))]


@SPARK
@example(LEAP_CASES)
@given(st.lists(birth_and_day(), min_size=40, max_size=50))
def test_age_on_counts_whole_years(spark, pairs):
    df = spark.createDataFrame([(i, b, d) for i, (b, d) in enumerate(pairs)],
                               "i int, birth date, day date")
    got = dict(df.select("i", R.age_on(F.col("birth"), F.col("day")).alias("age")).collect())
    want = {i: _whole_years(b, d) for i, (b, d) in enumerate(pairs)}
    wrong = {pairs[i]: (got[i], want[i]) for i in want if got[i] != want[i]}
    assert not wrong, f"(birth, day): (age_on, whole years) {wrong}"


# --- 4. Parameter checks --------------------------------------------------------------------------------
KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def bounded_param(draw, kind):
    """A Param of ``kind`` with optional inclusive bounds, a value inside them and a value outside
    them (None when neither bound is declared)."""
    whole = kind in ("int", "list[int]")
    number = st.integers(-10**6, 10**6) if whole else FINITE
    low, high = sorted((draw(number), draw(number)))
    low, high = draw(st.sampled_from([low, None])), draw(st.sampled_from([high, None]))
    lo, hi = (-10**7 if low is None else low), (10**7 if high is None else high)
    bounds = [b for b in (low, high) if b is not None]
    choices = [st.integers(math.ceil(lo), math.floor(hi)) if whole else st.floats(lo, hi)]
    if not whole and math.ceil(lo) <= math.floor(hi):
        choices.append(st.integers(math.ceil(lo), math.floor(hi)))   # an int is a number too
    if bounds:
        choices.append(st.sampled_from(bounds))                       # the bounds are inclusive
    inside = draw(st.one_of(choices))
    outside = None
    if bounds:
        side = draw(st.sampled_from([s for s, b in (("below", low), ("above", high)) if b is not None]))
        bound, away = (low, -1) if side == "below" else (high, 1)
        gap = draw(st.integers(1, 10**6))
        outside = bound + away * gap
        if not whole and draw(st.booleans()):
            outside = math.nextafter(bound, away * math.inf)          # the nearest float beyond the bound
    return Param(kind, low, high), inside, outside


@PURE
@given(st.sampled_from(["int", "number"]).flatmap(bounded_param))
def test_a_number_inside_its_bounds_is_accepted_and_one_outside_refused(case):
    spec, inside, outside = case
    assert _ok(spec, inside)
    if outside is not None:
        assert not _ok(spec, outside)


@PURE
@given(st.sampled_from(["int", "number", "list[int]"]).flatmap(bounded_param), st.booleans())
def test_a_bool_is_never_a_number(case, flag):
    # YAML reads `yes`/`true` as a bool, and True == 1 in Python: without the check `true` would pass
    # as a threshold of 1.
    spec, _, _ = case
    assert not _ok(spec, flag)
    if spec.kind == "list[int]":
        assert not _ok(spec, [flag])


@PURE
@given(bounded_param("int"), st.floats(allow_nan=True))
def test_a_whole_number_parameter_refuses_every_float(case, value):
    spec, _, _ = case
    assert not _ok(spec, value)


@PURE
@given(bounded_param("number"))
def test_nan_and_infinity_are_never_inside_declared_bounds(case):
    spec, _, _ = case
    if spec.low is not None or spec.high is not None:
        assert not _ok(spec, math.nan)
    if spec.high is not None:
        assert not _ok(spec, math.inf)
    if spec.low is not None:
        assert not _ok(spec, -math.inf)


@PURE
@given(bounded_param("list[int]"), st.lists(st.integers(-10, 10), max_size=5), st.data())
def test_a_list_of_whole_numbers_is_accepted_only_when_every_item_is(case, offsets, data):
    spec, inside, outside = case
    lo = -10**7 if spec.low is None else spec.low
    hi = 10**7 if spec.high is None else spec.high
    items = [min(max(inside + o, math.ceil(lo)), math.floor(hi)) for o in offsets]
    assert _ok(spec, items)
    if outside is not None:
        at = data.draw(st.integers(0, len(items)))
        assert not _ok(spec, items[:at] + [outside] + items[at:])


@PURE
@given(st.one_of(st.text(max_size=8), st.none(), st.integers(), st.booleans(), st.lists(st.text(max_size=3))))
def test_text_parameters(value):
    assert _ok(Param("str"), value) == (isinstance(value, str) and value != "")
    listed = [value]
    assert _ok(Param("list[str]"), listed) == isinstance(value, str)


def _write(path: Path, values: dict) -> None:
    path.write_text(yaml.safe_dump(values), encoding="utf-8")


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(st.dictionaries(KEYS, st.sampled_from(["int", "number"]).flatmap(bounded_param), min_size=1, max_size=5),
       st.data())
def test_load_params_accepts_good_files_and_names_the_key_of_a_bad_one(schema_cases, data):
    schema = {k: spec for k, (spec, _, _) in schema_cases.items()}
    good = {k: inside for k, (_, inside, _) in schema_cases.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cohort.yaml"
        _write(path, good)
        assert load_params(path, schema) == good

        bad_keys = [k for k, (_, _, outside) in schema_cases.items() if outside is not None]
        key = data.draw(st.sampled_from(sorted(schema)))
        wrong = data.draw(st.sampled_from([True, False, "12", [1], None] +
                                          ([schema_cases[key][2]] if key in bad_keys else [])))
        _write(path, {**good, key: wrong})
        with pytest.raises(ConfigError) as err:
            load_params(path, schema)
        assert str(path) in str(err.value) and f"'{key}'" in str(err.value)

        # An override is held to the same rule, and the message says it came from an override.
        _write(path, good)
        with pytest.raises(ConfigError) as err:
            load_params(path, schema, {key: wrong})
        assert "overrides" in str(err.value) and f"'{key}'" in str(err.value)

        unknown = data.draw(KEYS.filter(lambda k: k not in schema))
        _write(path, {**good, unknown: 1})
        with pytest.raises(ConfigError, match=re.escape(f"'{unknown}'")):
            load_params(path, schema)

        dropped = data.draw(st.sampled_from(sorted(schema)))
        _write(path, {k: v for k, v in good.items() if k != dropped})
        with pytest.raises(ConfigError) as err:
            load_params(path, schema)
        assert str(err.value).split("missing parameter(s) ", 1)[1].split(", ") == [dropped]


# --- 5. §0 issues and implied issues --------------------------------------------------------------------
# CLINICAL_RULES §0: "≥ k issues in N months" counts the issues dated in the window plus, for each
# authorisation, one implied issue per started 28-day period (or per its expected supply) of the days
# it covers inside the window; a prescription coded twice (two rows, one source_id) counts once.
# Facts rows are already cut at the run date: dated on or before it, an authorisation's ``until`` too.
SUPPLY_DEFAULT = 28


@st.composite
def patient(draw, ids):
    as_of = draw(st.dates(D(2015, 1, 1), D(2030, 12, 31)))
    since = as_of - dt.timedelta(days=draw(st.sampled_from([0, 27, 28, 29, 90, 182, 183, 365, 730])
                                           | st.integers(0, 800)))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        date = as_of - dt.timedelta(days=draw(st.integers(0, 1500)))
        authorised = draw(st.booleans())
        until = date + dt.timedelta(days=draw(st.integers(0, (as_of - date).days))) if authorised else date
        supply = draw(st.one_of(st.none(), st.sampled_from([1, 27, 28, 29, 56, 84]), st.integers(1, 120))) \
            if authorised else None
        sid = f"MedicationRequest/{next(ids)}"
        rows.append((date, "c1", "term", None, sid, until, authorised, supply))
        if draw(st.integers(0, 4)) == 0:   # dual-coded: the same prescription under a second code
            rows.append((date, "c2", "term 2", None, sid, until, authorised, supply))
    order = draw(st.permutations(range(len(rows))))
    return as_of, since, [rows[i] for i in order]


def _implied_issues(rows, since: dt.date, as_of: dt.date) -> tuple[int, bool]:
    """The oracle: (issues counting implied ones, issued in the window at all)."""
    total, any_in_window, seen = 0, False, set()
    for date, _code, _term, _tag, sid, until, authorised, supply in rows:
        if sid in seen:
            continue
        seen.add(sid)
        if not authorised:
            if since <= date <= as_of:
                total, any_in_window = total + 1, True
            continue
        first, last = max(date, since), min(until, as_of)
        covered = (last - first).days + 1
        if covered > 0:
            per = supply or SUPPLY_DEFAULT
            total += -(-covered // per)          # started periods: a ceiling, in integers
            any_in_window = True
    return total, any_in_window


PATIENTS_SCHEMA = T.StructType([T.StructField("i", T.IntegerType()), T.StructField("since", T.DateType()),
                                T.StructField("rx", T.ArrayType(R.RX_ROW))])
RX_CASES = [  # the spec tests' worked cases, as facts rows, in one batch
    (D(2026, 3, 31), D(2025, 9, 30), [(D(2019, 5, 1), "c", "t", None, "a", D(2026, 3, 31), True, None)]),    # 7
    (D(2026, 3, 31), D(2025, 9, 30), [(D(2020, 1, 1), "c", "t", None, "b", D(2025, 10, 28), True, None)]),   # 2
    (D(2026, 3, 31), D(2025, 9, 30), [(D(2020, 1, 1), "c", "t", None, "c", D(2025, 10, 27), True, None)]),   # 1
    (D(2026, 3, 31), D(2025, 9, 30), [(D(2019, 5, 1), "c", "t", None, "d", D(2026, 3, 31), True, 56)]),      # 4
    (D(2026, 3, 31), D(2025, 9, 30), [(D(2025, 9, 29), "c", "t", None, "e", D(2025, 9, 29), False, None),
                                      (D(2025, 9, 30), "c", "t", None, "f", D(2025, 9, 30), False, None)]),  # 1
]


def test_the_section_0_oracle_reproduces_the_worked_cases():
    # The oracle is checked against the numbers test_medicines_spec.py states, so a mistake in it
    # cannot agree with a matching mistake in issue_count unnoticed.
    assert [_implied_issues(rows, since, as_of) for as_of, since, rows in RX_CASES] == \
        [(7, True), (2, True), (1, True), (4, True), (1, True)]


@st.composite
def patients(draw):
    ids = iter(range(10**6))
    return draw(st.lists(patient(ids), min_size=8, max_size=12))


@SPARK
@example(RX_CASES)
@given(patients())
def test_issue_count_matches_clinical_rules_section_0(spark, batch):
    df = spark.createDataFrame([(i, since, rows) for i, (_, since, rows) in enumerate(batch)], PATIENTS_SCHEMA)
    got = {r["i"]: (r["n"], r["issued"]) for r in df.select(
        "i", R.issue_count(F.col("rx"), F.col("since")).alias("n"),
        (F.size(R.issued(F.col("rx"), F.col("since"))) > 0).alias("issued")).collect()}
    want = {i: _implied_issues(rows, since, as_of) for i, (as_of, since, rows) in enumerate(batch)}
    wrong = {i: (got[i], want[i], batch[i]) for i in want if got[i] != want[i]}
    assert not wrong, f"patient: ((issue_count, issued), oracle, (as_of, since, rows)) {wrong}"
