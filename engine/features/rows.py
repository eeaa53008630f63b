"""Reading the per-patient row arrays of the facts table (``engine.features.facts``).

Every coded fact is kept as an array of the patient's rows, sorted by date, so a rule's window is
applied when the rule is evaluated, not when the facts are built: one facts table serves every
window a cohort or a sweep asks for. These helpers are the vocabulary cohorts use over those arrays,
each a plain Spark column expression (no join, no shuffle).

A row of an ``ev_*`` array: date, status ('active' or 'resolved'), value, code, term, tag (the
codelist's extra column: signal, type, site, ...), source_id. ``rx_*``: date, code, term, tag,
source_id, until, authorised, supply (see RX_ROW). ``ref_*``: date, code, term, tag, source_id, outcome_date.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

EV_ROW = T.StructType([T.StructField(n, t) for n, t in (
    ("date", T.DateType()), ("status", T.StringType()), ("value", T.DoubleType()), ("code", T.StringType()),
    ("term", T.StringType()), ("tag", T.StringType()), ("source_id", T.StringType()),
    # the value and unit as the source wrote them (value is converted at ingest: engine.ingest.units)
    ("value_recorded", T.DoubleType()), ("unit_recorded", T.StringType()))])
_CODED = (("date", T.DateType()), ("code", T.StringType()), ("term", T.StringType()), ("tag", T.StringType()),
          ("source_id", T.StringType()))
# A medicine row (CLINICAL_RULES §0): an issue on ``date`` (until = date), or an authorisation
# covering ``date`` to ``until`` (already cut at the run date), implying one issue per started
# ``supply`` days.
RX_ROW = T.StructType([T.StructField(n, t) for n, t in (
    *_CODED, ("until", T.DateType()), ("authorised", T.BooleanType()), ("supply", T.IntegerType()))])
REF_ROW = T.StructType([*[T.StructField(n, t) for n, t in _CODED], T.StructField("outcome_date", T.DateType())])
# The three maps of the facts table (list name → the patient's rows) and the prefix that reads them:
# ``ev_<list>`` is the ``ev`` map's entry for <list>, an empty array when the patient has none.
MAPS = {"ev_": ("ev", EV_ROW), "rx_": ("rx", RX_ROW), "ref_": ("ref", REF_ROW)}


def lit_date(day: dt.date) -> Column:
    return F.lit(day.isoformat()).cast("date")


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar arithmetic for window starts (31 March − 1 month → 28/29 February)."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def rows(name: str) -> Column:
    """The patient's rows for ``ev_<list>``, ``rx_<class>`` or ``ref_<list>`` (an empty array when
    there are none); any other name is a plain facts column (``rx_issues``, ``bp_days``)."""
    for prefix, (column, row) in MAPS.items():
        if name.startswith(prefix) and name != "rx_issues":
            return F.coalesce(F.col(column)[name[len(prefix):]], F.array().cast(T.ArrayType(row)))
    return F.col(name)


def _col(rows_: str | Column) -> Column:
    return rows(rows_) if isinstance(rows_, str) else rows_


def where(rows: str | Column, since: dt.date | Column | None = None, status: str | None = "active",
          valued: bool = False, until: Column | None = None) -> Column:
    """The rows dated on or after ``since`` (and on or before ``until``) with the given status
    ('active', 'resolved'; None: either); only rows with a value when ``valued``."""
    start = lit_date(since) if isinstance(since, dt.date) else since

    def keep(x):
        cond = F.lit(True)
        if status is not None:
            cond = cond & (x["status"] == status)
        if start is not None:
            cond = cond & (x["date"] >= start)
        if until is not None:
            cond = cond & (x["date"] <= until)
        if valued:
            cond = cond & x["value"].isNotNull()
        return cond
    return F.filter(_col(rows), keep)


def last_date(rows: str | Column, since: dt.date | Column | None = None, status: str | None = "active") -> Column:
    """The latest date among the rows with that status (null when none)."""
    return F.array_max(F.transform(where(rows, since, status), lambda x: x["date"]))


def first_date(rows: str | Column, since: dt.date | None = None, status: str | None = "active") -> Column:
    """The earliest date among the rows with that status (null when none)."""
    return F.array_min(F.transform(where(rows, since, status), lambda x: x["date"]))


def newest_first(date: Column) -> Column:
    """A sort key that puts later dates first under ascending order (array_min, ``first_by``)."""
    return -F.datediff(date, F.lit("1970-01-01"))


def first_by(rows: str | Column, key) -> Column:
    """The row whose key is smallest, null when there are none. ``key(x)`` gives the row's sort
    columns, most significant first (``newest_first(x["date"])`` for the latest)."""
    return F.array_min(F.transform(_col(rows), lambda x: F.struct(
        *[k.alias(f"_k{i}") for i, k in enumerate(key(x))], x.alias("row"))))["row"]


def latest_value(rows: str | Column, since: dt.date | None = None) -> Column:
    """struct(date, value) of the latest active row with a value; on one day the highest value."""
    return F.array_max(F.transform(where(rows, since, valued=True),
                                   lambda x: F.struct(x["date"].alias("date"), x["value"].alias("value"))))


def highest_value(rows: str | Column) -> Column:
    """struct(value, date) of the highest active value (its latest date on a tie)."""
    return F.array_max(F.transform(where(rows, valued=True),
                                   lambda x: F.struct(x["value"].alias("value"), x["date"].alias("date"))))


def count_distinct(rows: str | Column, field: str = "source_id") -> Column:
    """How many distinct non-null ``field`` values the rows hold (0 when none), as SQL's count(distinct)."""
    return F.size(F.array_distinct(F.filter(F.transform(_col(rows), lambda x: x[field]), lambda v: v.isNotNull())))


def days(dates: str | Column, since: dt.date | Column | None = None) -> Column:
    """The dates of an array of dates on or after ``since``."""
    start = lit_date(since) if isinstance(since, dt.date) else since
    arr = _col(dates)
    return arr if start is None else F.filter(arr, lambda d: d >= start)


# --- medicines (CLINICAL_RULES §0: issues and authorisations) -----------------------------------------
DEFAULT_SUPPLY_DAYS = 28   # the usual repeat interval: one implied issue per started 28 days covered


def _start(since: dt.date | Column) -> Column:
    return lit_date(since) if isinstance(since, dt.date) else since


def issued(rows: str | Column, since: dt.date | Column) -> Column:
    """Medicine rows "issued" in the window from ``since`` to the run date: an issue dated in it, or an
    authorisation covering any day of it (rows end at the run date already)."""
    start = _start(since)
    return F.filter(_col(rows), lambda x: x["until"] >= start)


def current(rows: str | Column, as_of: dt.date, days_: int) -> Column:
    """Rows that make the patient currently on the medicine: an issue in the last ``days_`` days, or
    an authorisation covering the run date."""
    day, since = lit_date(as_of), lit_date(as_of - dt.timedelta(days=days_))
    return F.filter(_col(rows), lambda x: F.when(x["authorised"], x["until"] >= day).otherwise(x["date"] >= since))


def issue_count(rows: str | Column, since: dt.date | Column) -> Column:
    """Issues in the window plus implied issues: an authorisation implies one per started ``supply``
    days (28 when not given) of the days it covers inside the window."""
    start = _start(since)

    def n(x):
        covered = F.datediff(x["until"], F.greatest(x["date"], start)) + 1
        per = F.coalesce(x["supply"], F.lit(DEFAULT_SUPPLY_DAYS))
        return F.struct(x["source_id"].alias("s"), x["date"].alias("d"),
                        F.when(x["authorised"], F.ceil(covered / per)).otherwise(F.lit(1)).cast("int").alias("n"))
    # one count per prescription: a dual-coded issue has two rows with one source_id
    per_row = F.array_distinct(F.transform(issued(rows, since), n))
    return F.aggregate(per_row, F.lit(0), lambda a, b: a + b["n"])


def last_taken(rows: str | Column, since: dt.date | Column | None = None) -> Column:
    """The row that shows the medicine was taken most recently (latest last covered day; on a tie an
    authorisation, then the latest start), null when none is issued in the window."""
    arr = _col(rows) if since is None else issued(rows, since)
    return first_by(arr, lambda x: [newest_first(x["until"]), F.when(x["authorised"], 0).otherwise(1),
                                    newest_first(x["date"]), x["source_id"], x["code"]])


def taken_text(row: Column, as_of: dt.date) -> Column:
    """How a medicine row is evidence, in a clinician's words: "issued on D", "repeat authorised
    since D, still active", or "repeat authorised D to E" for one that has ended."""
    start, until = date_text(row["date"]), date_text(row["until"])
    return (F.when(row.isNull(), F.lit(None).cast("string"))
            .when(~row["authorised"], F.concat(F.lit("issued on "), start))
            .when(row["until"] >= lit_date(as_of), F.concat(F.lit("repeat authorised since "), start,
                                                            F.lit(", still active")))
            .otherwise(F.concat(F.lit("repeat authorised "), start, F.lit(" to "), until)))


def _medicines(pred) -> Column:
    """Distinct medicines among the ``rx_issues`` rows that satisfy ``pred`` (one medicine per row, its
    smallest (system, code), so a dual-coded issue counts once)."""
    return F.size(F.array_distinct(F.transform(F.filter(F.col("rx_issues"), pred), lambda x: x["medicine"])))


def medicines_since(since: dt.date) -> Column:
    """Distinct medicines issued in the window from ``since``: an issue in it or an authorisation
    covering any day of it."""
    return _medicines(lambda x: x["until"] >= lit_date(since))


def current_medicines(as_of: dt.date, days_: int) -> Column:
    """Distinct medicines currently on: an issue in the last ``days_`` days or an authorisation
    covering the run date."""
    day, since = lit_date(as_of), lit_date(as_of - dt.timedelta(days=days_))
    return _medicines(lambda x: F.when(x["authorised"], x["until"] >= day).otherwise(x["date"] >= since))


def age_on(birth: Column, day: Column) -> Column:
    """Whole years completed on ``day``: the birthday itself counts; someone born on 29 February
    has their birthday on 1 March in other years."""
    before_birthday = (F.month(day) < F.month(birth)) | \
        ((F.month(day) == F.month(birth)) & (F.dayofmonth(day) < F.dayofmonth(birth)))
    return (F.year(day) - F.year(birth) - F.when(before_birthday, 1).otherwise(0)).cast("int")


def number_text(col: Column) -> Column:
    """142 rather than 142.0; one decimal where the value has one (for reason sentences)."""
    return F.regexp_replace(F.format_string("%.1f", col), r"\.0$", "")


def date_text(col: Column) -> Column:
    return col.cast("string")
