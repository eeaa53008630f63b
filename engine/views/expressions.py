"""FHIRPath → PySpark column expressions over a resource parsed with the view's schema.

An expression compiles to a collection (``Coll``): a Spark column holding one value (null is the
empty collection) when fhir.resources' R4B model says the element cannot repeat, else a non-null
array. Every element read is recorded in a tree as it compiles (``Coll.tree``), from which
engine.views.model builds the schema. A primitive is the text the JSON wrote (``raw``), cast to its
FHIR type where a value is needed (``try_cast``: a value that is not of its type is empty, never a
failed job).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.views import model

INTEGER_TYPES = ("integer", "positiveInt", "unsignedInt", "integer64")
_SPARK_OUT = {"boolean": T.BooleanType(), "decimal": T.DoubleType(),
              **{t: T.LongType() for t in INTEGER_TYPES}}


class ViewError(ValueError):
    """The ViewDefinition is not valid, or uses what this compiler does not read."""


def out_type(fhir_type: str | None) -> T.DataType:
    return _SPARK_OUT.get(fhir_type or "", T.StringType())


@dataclass
class Coll:
    col: Column
    type: str | None        # FHIR type of the items; None for an empty or untyped collection
    many: bool
    raw: bool = False       # a primitive as written in the JSON (text), cast where a value is needed
    tree: dict | None = None   # where reads below this collection are recorded
    choice: dict | None = None  # an element with a type choice, before ofType(): suffix → JSON name
    parent: "Coll | None" = None


def empty() -> Coll:
    return Coll(F.lit(None).cast("string"), None, False)


@dataclass
class Ctx:
    focus: Coll
    root: Coll
    row_index: Column
    consts: dict
    strict: bool
    notes: set = field(default_factory=set)


# --- collections ---------------------------------------------------------------------------------

def arr(c: Coll) -> Column:
    return c.col if c.many else F.filter(F.array(c.col), lambda x: x.isNotNull())


def one(c: Coll) -> Column:
    return F.try_element_at(c.col, F.lit(1)) if c.many else c.col


def _cast(col: Column, fhir_type: str | None) -> Column:
    # try_cast: text that is not a value of its type is an empty collection, never a failed job
    target = out_type(fhir_type)
    return col if isinstance(target, T.StringType) else col.try_cast(target)


def value(c: Coll) -> Column:
    """The single value, typed (a raw primitive cast to its FHIR type)."""
    v = one(c)
    return _cast(v, c.type) if c.raw else v


def values(c: Coll) -> Column:
    a = arr(c)
    return F.transform(a, lambda x: _cast(x, c.type)) if c.raw and not isinstance(out_type(c.type), T.StringType) else a


def truth(c: Coll) -> Column:
    """FHIRPath's boolean evaluation of a collection: empty → null, one boolean → it, one other item → true."""
    if c.type == "boolean":
        return value(c)
    if c.type is None and c.choice is None:
        return F.lit(None).cast("boolean")
    return F.when(one(c).isNotNull(), F.lit(True))


def _exists(c: Coll) -> Column:
    if c.choice is not None:
        alts = [member(c.parent, name, None) for name in c.choice.values()]
        return F.coalesce(*[_exists(a) for a in alts]) if len(alts) == 1 else F.greatest(*[_exists(a) for a in alts])
    return F.size(c.col) > 0 if c.many else c.col.isNotNull()


def item_of(c: Coll, x: Column) -> Coll:
    return Coll(x, c.type, False, c.raw, c.tree)


def member(c: Coll, name: str, ctx: Ctx | None) -> Coll:
    if c.type is None or c.choice is not None:
        if c.choice is not None:
            raise ViewError(f"'{name}' read from a choice element before ofType()")
        return empty()
    el = model.element(c.type, name)
    if el is None:
        alts = model.choices(c.type).get(name)
        if alts:
            return Coll(F.lit(None), None, False, tree=c.tree, choice=alts, parent=c)
        if ctx is not None and ctx.strict:
            raise ViewError(f"{c.type} has no element '{name}'")
        return empty()
    sub = c.tree.setdefault(name, {}) if c.tree is not None else None
    if not c.many:
        col = c.col.getField(name)
        if el.many:
            col = F.coalesce(col, F.array())
    elif el.many:
        col = F.flatten(F.transform(c.col, lambda x: F.coalesce(x.getField(name), F.array())))
    else:
        col = F.filter(c.col.getField(name), lambda x: x.isNotNull())
    return Coll(col, el.type, c.many or el.many, el.primitive, sub)


def _of_type(c: Coll, type_name: str) -> Coll:
    type_name = type_name.split(".")[-1]
    if c.choice is not None:
        for suffix, json_name in c.choice.items():
            if suffix.lower() == type_name.lower():
                return member(c.parent, json_name, None)
        return empty()
    if c.type is not None and c.type.lower() == type_name.lower():
        return c
    return empty()


# --- expressions ---------------------------------------------------------------------------------

def compile_expr(node, ctx: Ctx) -> Coll:
    kind = node[0]
    if kind == "lit":
        _, v, t = node
        if v is None:
            return empty()
        return Coll(F.lit(float(v) if isinstance(v, Decimal) else v), t, False)
    if kind == "this":
        return ctx.focus
    if kind == "index":
        raise ViewError("$index is not supported")
    if kind == "const":
        name = node[1]
        if name == "rowIndex":
            return Coll(ctx.row_index, "integer", False)
        if name not in ctx.consts:
            raise ViewError(f"constant %{name} is not defined in the view")
        return ctx.consts[name]
    if kind == "member":
        focus = ctx.focus
        if focus is ctx.root and node[1] == focus.type:
            return focus
        return member(focus, node[1], ctx)
    if kind == "call":
        return _call(ctx.focus, node[1], node[2], ctx)
    if kind == "dot":
        left = compile_expr(node[1], ctx)
        right = node[2]
        if right[0] == "member":
            return member(left, right[1], ctx)
        return _call(left, right[1], right[2], ctx)
    if kind == "at":
        c = compile_expr(node[1], ctx)
        i = value(compile_expr(node[2], ctx))
        return Coll(F.try_element_at(arr(c), (i + 1).cast("int")), c.type, False, c.raw, c.tree)
    if kind == "neg":
        c = compile_expr(node[1], ctx)
        return Coll(-value(c), c.type, False)
    if kind == "op":
        return _op(node[1], compile_expr(node[2], ctx), compile_expr(node[3], ctx))
    raise ViewError(f"unsupported FHIRPath node {kind}")


def _numeric(t: str | None) -> bool:
    return t in INTEGER_TYPES or t == "decimal"


def _equal(a: Coll, b: Coll) -> Column:
    if not a.many and not b.many:
        return value(a) == value(b)
    va, vb = values(a), values(b)
    return F.when((F.size(va) == 0) | (F.size(vb) == 0), F.lit(None).cast("boolean")).otherwise(va == vb)


def _op(op: str, a: Coll, b: Coll) -> Coll:
    if op in ("and", "or", "xor", "implies"):
        x, y = truth(a), truth(b)
        out = {"and": lambda: x & y, "or": lambda: x | y,
               "xor": lambda: (x & ~y) | (~x & y), "implies": lambda: ~x | y}[op]()
        return Coll(out, "boolean", False)
    if op in ("=", "!="):
        eq = _equal(a, b)
        return Coll(eq if op == "=" else ~eq, "boolean", False)
    if op in ("<", "<=", ">", ">="):
        x, y = value(a), value(b)
        out = {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
        return Coll(out, "boolean", False)
    if op == "&":
        return Coll(F.concat(F.coalesce(value(a), F.lit("")), F.coalesce(value(b), F.lit(""))), "string", False)
    if op in ("+", "-", "*", "/"):
        x, y = value(a), value(b)
        if op == "+" and not (_numeric(a.type) and _numeric(b.type)):
            return Coll(F.concat(x, y), "string", False)
        if op == "/":
            return Coll(x.cast("double") / y.cast("double"), "decimal", False)
        kind = "integer" if a.type in INTEGER_TYPES and b.type in INTEGER_TYPES else "decimal"
        out = {"+": x + y, "-": x - y, "*": x * y}[op]
        return Coll(out, kind, False)
    if op == "|":
        if a.type is not None and b.type is not None and a.type != b.type:
            raise ViewError(f"union of {a.type} and {b.type}")
        return Coll(F.array_distinct(F.concat(arr(a), arr(b))), a.type or b.type, True, a.raw, a.tree)
    raise ViewError(f"FHIRPath operator '{op}' is not supported")


def _args(name: str, args: list, n: tuple[int, ...]) -> None:
    if len(args) not in n:
        raise ViewError(f"{name}() takes {' or '.join(map(str, n))} argument(s), not {len(args)}")


def _lambda(c: Coll, expr, ctx: Ctx):
    return lambda x: compile_expr(expr, replace(ctx, focus=item_of(c, x)))


def _type_name(node) -> str:
    if node[0] == "member":
        return node[1]
    if node[0] == "dot" and node[2][0] == "member":
        return node[2][1]
    raise ViewError("a type name is expected")


def _call(c: Coll, name: str, args: list, ctx: Ctx) -> Coll:
    if name in ("exists", "empty"):
        _args(name, args, (0, 1))
        if args:
            f = _lambda(c, args[0], ctx)
            out = F.exists(arr(c), lambda x: F.coalesce(truth(f(x)), F.lit(False)))
        else:
            out = _exists(c)
        return Coll(out if name == "exists" else ~out, "boolean", False)
    if name == "where":
        _args(name, args, (1,))
        f = _lambda(c, args[0], ctx)
        if c.many:
            col = F.filter(c.col, lambda x: F.coalesce(truth(f(x)), F.lit(False)))
        else:
            col = F.when(F.coalesce(truth(f(c.col)), F.lit(False)), c.col)
        return Coll(col, c.type, c.many, c.raw, c.tree)
    if name == "select":
        _args(name, args, (1,))
        f = _lambda(c, args[0], ctx)
        probe = f(F.lit(None))
        inner = lambda x: arr(f(x))
        col = F.flatten(F.transform(arr(c), inner))
        return Coll(col, probe.type, True, probe.raw, probe.tree)
    if name in ("first", "last"):
        _args(name, args, (0,))
        if not c.many:
            return c
        return Coll(F.try_element_at(c.col, F.lit(1 if name == "first" else -1)), c.type, False, c.raw, c.tree)
    if name == "count":
        _args(name, args, (0,))
        return Coll(F.size(arr(c)).cast("long"), "integer", False)
    if name == "not":
        _args(name, args, (0,))
        return Coll(~truth(c), "boolean", False)
    if name == "hasValue":
        return Coll(_exists(c), "boolean", False)
    if name == "join":
        _args(name, args, (0, 1))
        sep = value(compile_expr(args[0], ctx)) if args else F.lit("")
        return Coll(F.call_function("array_join", values(c).cast("array<string>"), sep), "string", False)
    if name == "ofType":
        _args(name, args, (1,))
        return _of_type(c, _type_name(args[0]))
    if name == "extension":
        _args(name, args, (1,))
        url = value(compile_expr(args[0], ctx))
        exts = member(c, "extension", ctx)
        if exts.type is None:
            return exts
        return Coll(F.filter(arr(exts), lambda e: e.getField("url") == url), exts.type, True, False,
                    _record(exts.tree, "url"))
    if name == "getResourceKey":
        _args(name, args, (0,))
        if c.type is None or not model.is_type(c.type) or "id" not in model.elements(c.type):
            raise ViewError("getResourceKey() must be called on a resource")
        return member(c, "id", ctx)
    if name == "getReferenceKey":
        _args(name, args, (0, 1))
        if c.type != "Reference":
            raise ViewError("getReferenceKey() must be called on a Reference")
        want = _type_name(args[0]) if args else None
        ref = member(c, "reference", ctx)

        def key(r: Column) -> Column:
            m = F.regexp_extract(r, r"([A-Za-z]+)/([^/]+?)(/_history/[^/]+)?$", 2)
            t = F.regexp_extract(r, r"([A-Za-z]+)/([^/]+?)(/_history/[^/]+)?$", 1)
            k = F.when(m != "", m).otherwise(F.regexp_extract(r, r"^urn:uuid:(.+)$", 1))
            k = F.when(k != "", k)
            return F.when(t == want, k) if want else k
        if ref.many:
            return Coll(F.filter(F.transform(ref.col, key), lambda x: x.isNotNull()), "string", True)
        return Coll(key(ref.col), "string", False)
    if name in _STRING_FUNCTIONS:
        fn, n_args = _STRING_FUNCTIONS[name]
        _args(name, args, n_args)
        extra = [value(compile_expr(a, ctx)) for a in args]
        rtype = {"length": "integer", "startsWith": "boolean", "endsWith": "boolean",
                 "matches": "boolean"}.get(name, "string")
        if c.many:
            return Coll(F.transform(values(c), lambda x: fn(x, *extra)), rtype, True)
        return Coll(fn(value(c), *extra), rtype, False)
    if name in ("lowBoundary", "highBoundary"):
        _args(name, args, (0, 1))
        return _boundary(c, name == "lowBoundary")
    raise ViewError(f"FHIRPath function {name}() is not supported")


# FHIRPath string functions (on each item; a missing item stays missing)
_STRING_FUNCTIONS = {
    "trim": (lambda s: F.trim(s), (0,)),
    "lower": (lambda s: F.lower(s), (0,)),
    "upper": (lambda s: F.upper(s), (0,)),
    "length": (lambda s: F.length(s).cast("long"), (0,)),
    "startsWith": (lambda s, p: s.startswith(p), (1,)),
    "endsWith": (lambda s, p: s.endswith(p), (1,)),
    "matches": (lambda s, p: F.call_function("regexp_like", s, p), (1,)),
    "replaceMatches": (lambda s, p, r: F.call_function("regexp_replace", s, p, r), (2,)),
}


def _record(tree: dict | None, name: str) -> dict | None:
    if tree is not None:
        tree.setdefault(name, {})
    return tree


def _time_bound(tm: Column, low: bool) -> Column:
    n = F.length(tm)
    fill = ("00", "00", "000") if low else ("59", "59", "999")
    return (F.when(n == 2, F.concat(tm, F.lit(f":{fill[0]}:{fill[1]}.{fill[2]}")))
            .when(n == 5, F.concat(tm, F.lit(f":{fill[1]}.{fill[2]}")))
            .when(n == 8, F.concat(tm, F.lit(f".{fill[2]}")))
            .otherwise(F.rpad(F.substring(tm, 1, 12), 12, "0" if low else "9")))


def _date_bound(d: Column, low: bool) -> Column:
    n = F.length(d)
    if low:
        return F.when(n == 4, F.concat(d, F.lit("-01-01"))).when(n == 7, F.concat(d, F.lit("-01"))).otherwise(d)
    month_end = F.date_format(F.last_day(F.to_date(F.concat(d, F.lit("-01")))), "yyyy-MM-dd")
    return F.when(n == 4, F.concat(d, F.lit("-12-31"))).when(n == 7, month_end).otherwise(d)


def _boundary(c: Coll, low: bool) -> Coll:
    v = one(c)
    t = c.type
    if t == "decimal":
        text = v.cast("string")
        places = F.when(text.contains("."), F.length(F.substring_index(text, ".", -1))).otherwise(F.lit(0))
        half = F.pow(F.lit(10.0), -places) * 0.5
        num = text.cast("double")
        return Coll(num - half if low else num + half, "decimal", False)
    if t in INTEGER_TYPES:
        return Coll(value(c), t, False)
    if t == "date":
        return Coll(_date_bound(v, low), "date", False)
    if t == "time":
        return Coll(F.when(v.isNotNull(), _time_bound(v, low)), "time", False)
    if t in ("dateTime", "instant"):
        date = F.regexp_extract(v, r"^([0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?)", 1)
        tm = F.regexp_extract(v, r"T([0-9:.]+)", 1)
        zone = F.regexp_extract(v, r"T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})$", 1)
        zone = F.when(zone != "", zone).otherwise(F.lit("+14:00" if low else "-12:00"))
        whole_day = F.lit("T00:00:00.000" if low else "T23:59:59.999")
        out = F.when(tm == "", F.concat(_date_bound(date, low), whole_day, zone)) \
               .otherwise(F.concat(date, F.lit("T"), _time_bound(tm, low), zone))
        return Coll(F.when(v.isNotNull(), out), "dateTime", False)
    return empty()
