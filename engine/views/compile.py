"""A SQL on FHIR v2 ViewDefinition → PySpark column expressions, in one projection per resource.

Every select of a view becomes an array of row structs built with Spark's higher-order functions
(``transform``, ``filter``, ``flatten``): ``forEach`` maps its collection to the rows of its body,
``forEachOrNull`` does the same over one null item when the collection is empty, ``unionAll``
concatenates its branches' rows, and a select's parts are crossed (a part that is one row is merged
into every row of the others). The view's rows are then one ``inline`` of that array: no join, no
shuffle, no Python per resource.

A FHIRPath expression compiles to a collection (``Coll``): a Spark column holding one value (null
is the empty collection) when the model says the element cannot repeat, else a non-null array.
While compiling, every element read is recorded in a tree, and the resource's Spark schema is built
from that tree and fhir.resources' R4B model (``engine.views.model``).

``repeat`` walks its paths depth-first to ``REPEAT_DEPTH`` levels. Nodes at different depths have
different Spark types (a deeper node has fewer levels below it), so each node is carried as its JSON
text and parsed back with the node's schema; only repeat pays that cost.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.views import model
from engine.views.fhirpath import FhirPathError, parse

REPEAT_DEPTH = 8

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


def _empty() -> Coll:
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


def _item(c: Coll, x: Column) -> Coll:
    return Coll(x, c.type, False, c.raw, c.tree)


def member(c: Coll, name: str, ctx: Ctx | None) -> Coll:
    if c.type is None or c.choice is not None:
        if c.choice is not None:
            raise ViewError(f"'{name}' read from a choice element before ofType()")
        return _empty()
    el = model.element(c.type, name)
    if el is None:
        alts = model.choices(c.type).get(name)
        if alts:
            return Coll(F.lit(None), None, False, tree=c.tree, choice=alts, parent=c)
        if ctx is not None and ctx.strict:
            raise ViewError(f"{c.type} has no element '{name}'")
        return _empty()
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
        return _empty()
    if c.type is not None and c.type.lower() == type_name.lower():
        return c
    return _empty()


# --- expressions ---------------------------------------------------------------------------------

def compile_expr(node, ctx: Ctx) -> Coll:
    kind = node[0]
    if kind == "lit":
        _, v, t = node
        if v is None:
            return _empty()
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
    return lambda x: compile_expr(expr, replace(ctx, focus=_item(c, x)))


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
    return _empty()


# --- selects -------------------------------------------------------------------------------------

@dataclass
class Part:
    many: bool
    col: Column             # a row struct (one row) or an array of them
    names: list[str]


_SELECT_KEYS = {"column", "select", "forEach", "forEachOrNull", "repeat", "unionAll"}
_COLUMN_KEYS = {"name", "path", "type", "collection", "description", "tag"}


def _path(node: dict, key: str):
    text = node[key]
    if not isinstance(text, str):
        raise ViewError(f"'{key}' must be a FHIRPath string, not {type(text).__name__}")
    try:
        return parse(text)
    except FhirPathError as e:
        raise ViewError(str(e)) from None


def _columns(columns: list, ctx: Ctx) -> Part:
    if not isinstance(columns, list) or not columns:
        raise ViewError("'column' must be a non-empty list")
    cols, names = [], []
    for c in columns:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or "path" not in c:
            raise ViewError(f"a column needs a name and a path: {c!r}")
        unknown = set(c) - _COLUMN_KEYS
        if unknown:
            raise ViewError(f"column {c['name']}: unknown key(s) {sorted(unknown)}")
        coll = compile_expr(_path(c, "path"), ctx)
        target = out_type(c.get("type") or coll.type)
        # a primitive read from the JSON is cast from its text straight to the column's type, so a
        # column declared as string gets the text as written
        if c.get("collection") is True:
            items = arr(coll) if coll.raw else values(coll)
            out = F.transform(items, lambda x: x.try_cast(target))
        else:
            v = one(coll) if coll.raw else value(coll)
            if coll.many:
                v = F.when(F.size(coll.col) > 1, F.raise_error(F.lit(
                    f"column {c['name']}: more than one value and 'collection' is not true"))).otherwise(v)
            out = v.try_cast(target)
        cols.append(out.alias(c["name"]))
        names.append(c["name"])
    return Part(False, F.struct(*cols), names)


def _many(p: Part) -> Column:
    return p.col if p.many else F.array(p.col)


def _merge(a: Column, a_names: list[str], b: Column, b_names: list[str]) -> Column:
    return F.struct(*[a.getField(n).alias(n) for n in a_names], *[b.getField(n).alias(n) for n in b_names])


def _product(parts: list[Part]) -> Part:
    acc = parts[0]
    for p in parts[1:]:
        names = acc.names + p.names
        if not acc.many and not p.many:
            acc = Part(False, _merge(acc.col, acc.names, p.col, p.names), names)
        elif not acc.many:
            a, an, pn = acc.col, acc.names, p.names
            acc = Part(True, F.transform(p.col, lambda y: _merge(a, an, y, pn)), names)
        elif not p.many:
            b, an, pn = p.col, acc.names, p.names
            acc = Part(True, F.transform(acc.col, lambda x: _merge(x, an, b, pn)), names)
        else:
            b, an, pn = p.col, acc.names, p.names
            acc = Part(True, F.flatten(F.transform(acc.col, lambda x: F.transform(b, lambda y: _merge(x, an, y, pn)))),
                       names)
    return acc


def _union(branches: list, ctx: Ctx) -> Part:
    if not isinstance(branches, list) or not branches:
        raise ViewError("'unionAll' must be a non-empty list of selects")
    parts = [_select(b, ctx) for b in branches]
    names = parts[0].names
    for p in parts[1:]:
        if p.names != names:
            raise ViewError(f"unionAll branches have different columns: {names} and {p.names}")
    first = _many(parts[0])
    return Part(True, F.concat(first, *[_many(p) for p in parts[1:]]), names)


def _body(node: dict, ctx: Ctx) -> Part:
    parts = []
    if "column" in node:
        parts.append(_columns(node["column"], ctx))
    subs = node.get("select", [])
    if not isinstance(subs, list):
        raise ViewError("'select' must be a list")
    parts.extend(_select(s, ctx) for s in subs)
    if "unionAll" in node:
        parts.append(_union(node["unionAll"], ctx))
    if not parts:
        raise ViewError("a select needs a column, a select or a unionAll")
    return _product(parts)


def _iterate(node: dict, items: Coll, or_null: bool, ctx: Ctx) -> Part:
    a = arr(items)
    if or_null:
        a = F.when(F.size(a) > 0, a).otherwise(F.array(F.try_element_at(a, F.lit(1))))
    names: list[str] = []

    def rows(x: Column, i: Column) -> Column:
        p = _body(node, replace(ctx, focus=_item(items, x), row_index=i))
        names[:] = p.names
        return _many(p)
    col = F.flatten(F.transform(a, rows))
    return Part(True, col, names)


def _chain(text: str) -> list[str]:
    node = _path({"p": text}, "p")
    names = []
    while node[0] == "dot" and node[2][0] == "member":
        names.insert(0, node[2][1])
        node = node[1]
    if node[0] != "member":
        raise ViewError(f"a repeat path must be element names joined by '.': {text!r}")
    return [node[1], *names]


def _repeat(node: dict, ctx: Ctx) -> Part:
    paths = node["repeat"]
    if not isinstance(paths, list) or not paths:
        raise ViewError("'repeat' must be a non-empty list of paths")
    chains = [_chain(p) for p in paths]
    # the type every path reaches from the focus (and from a node)
    reach = []
    for chain in chains:
        t = ctx.focus.type
        for name in chain:
            el = model.element(t, name) if t else None
            t = el.type if el else None
        reach.append(t)
    node_type = next((t for t in reach if t), None)
    if node_type is None:
        p = _body(node, replace(ctx, focus=_empty()))
        return Part(True, F.filter(_many(p), lambda _: F.lit(False)), p.names)
    inner_tree: dict = {}
    names: list[str] = []
    node_focus = Coll(F.lit(None), node_type, False, False, inner_tree)

    def rows(x: Column, i: Column) -> Column:
        p = _body(node, replace(ctx, focus=replace(node_focus, col=x), row_index=i))
        names[:] = p.names
        return _many(p)

    def wrap(tree: dict) -> dict:
        out: dict = {}
        for chain in chains:
            t = tree
            for name in reversed(chain):
                t = {name: t}
            out = model.merge(out, t)
        return out

    # compile the body once before the schema is built: compiling records what a node's rows read
    rows(F.lit(None), F.lit(0))
    levels = [inner_tree]
    for _ in range(REPEAT_DEPTH - 1):
        levels.insert(0, model.merge(inner_tree, wrap(levels[0])))
    node_schema = model.spark_schema(node_type, levels[0])
    if ctx.focus.tree is not None:
        ctx.focus.tree.update(model.merge(ctx.focus.tree, wrap(levels[0])))

    def kids(x: Coll) -> Column:
        out = []
        for chain in chains:
            c = x
            for name in chain:
                c = member(c, name, None)
            if c.type is not None:
                out.append(arr(c))
        return out[0] if len(out) == 1 else F.concat(*out)

    def preorder(x: Column, depth: int) -> Column:
        own = F.array(F.to_json(x))
        if depth >= REPEAT_DEPTH:
            return own
        below = kids(Coll(x, node_type, False, False, None))
        return F.concat(own, F.flatten(F.transform(below, lambda k: preorder(k, depth + 1))))

    start = kids(replace(ctx.focus, tree=None))
    texts = F.flatten(F.transform(start, lambda k: preorder(k, 1)))
    parsed = F.transform(texts, lambda s: F.from_json(s, node_schema))
    col = F.flatten(F.transform(parsed, rows))
    return Part(True, col, names)


def _select(node: dict, ctx: Ctx) -> Part:
    if not isinstance(node, dict):
        raise ViewError(f"a select must be an object, not {node!r}")
    unknown = set(node) - _SELECT_KEYS
    if unknown:
        raise ViewError(f"select: unknown key(s) {sorted(unknown)}")
    iterators = [k for k in ("forEach", "forEachOrNull", "repeat") if k in node]
    if len(iterators) > 1:
        raise ViewError(f"a select may have only one of forEach, forEachOrNull, repeat: {iterators}")
    if not iterators:
        return _body(node, ctx)
    if iterators[0] == "repeat":
        return _repeat(node, ctx)
    items = compile_expr(_path(node, iterators[0]), ctx)
    return _iterate(node, items, iterators[0] == "forEachOrNull", ctx)


# --- views ---------------------------------------------------------------------------------------

_CONSTANT_TYPES = {"valueBase64Binary": "base64Binary", "valueBoolean": "boolean", "valueCanonical": "canonical",
                   "valueCode": "code", "valueDate": "date", "valueDateTime": "dateTime", "valueDecimal": "decimal",
                   "valueId": "id", "valueInstant": "instant", "valueInteger": "integer",
                   "valueInteger64": "integer64", "valueOid": "oid", "valuePositiveInt": "positiveInt",
                   "valueString": "string", "valueTime": "time", "valueUnsignedInt": "unsignedInt",
                   "valueUri": "uri", "valueUrl": "url", "valueUuid": "uuid"}


def _constants(view: dict) -> dict:
    out = {}
    for c in view.get("constant", []) or []:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise ViewError(f"a constant needs a name: {c!r}")
        kinds = [k for k in c if k.startswith("value")]
        if len(kinds) != 1 or kinds[0] not in _CONSTANT_TYPES:
            raise ViewError(f"constant {c['name']} needs exactly one value[x] of a primitive type")
        ftype = _CONSTANT_TYPES[kinds[0]]
        v = c[kinds[0]]
        if ftype == "decimal":
            v = float(v)
        out[c["name"]] = Coll(F.lit(v), ftype, False)
    return out


@dataclass
class CompiledView:
    name: str
    resource: str
    schema: T.StructType            # what the resource's JSON must be parsed with
    columns: list[str]
    rows: Part                       # over the column ROOT
    where: Column | None
    tree: dict                       # every element the view reads (what ``schema`` holds)

    def schema_with(self, more: dict, *fields: T.StructField) -> T.StructType:
        """The schema extended by more elements (a tree like ``tree``) and extra top-level fields."""
        base = model.spark_schema(self.resource, model.merge(self.tree, more))
        return T.StructType([T.StructField("resourceType", T.StringType()), *base.fields, *fields])


ROOT = "__resource"


def compile_view(view: dict, *, strict: bool = False) -> CompiledView:
    """Compile ``view`` (a ViewDefinition as JSON) for resources held in the struct column ``ROOT``.
    ``strict``: an element the resource type does not have is an error (else an empty collection,
    as the specification says)."""
    if not isinstance(view, dict):
        raise ViewError("a ViewDefinition is a JSON object")
    resource = view.get("resource")
    if not isinstance(resource, str) or not model.is_type(resource):
        raise ViewError(f"'resource' must name a FHIR R4 resource type, not {resource!r}")
    selects = view.get("select")
    if not isinstance(selects, list) or not selects:
        raise ViewError("'select' must be a non-empty list")
    tree: dict = {}
    root = Coll(F.col(ROOT), resource, False, False, tree)
    ctx = Ctx(focus=root, root=root, row_index=F.lit(0), consts=_constants(view), strict=strict)
    rows = _product([_select(s, ctx) for s in selects])
    if len(set(rows.names)) != len(rows.names):
        dup = sorted({n for n in rows.names if rows.names.count(n) > 1})
        raise ViewError(f"column names must be unique in a view: {dup}")
    where = None
    for w in view.get("where", []) or []:
        if not isinstance(w, dict) or "path" not in w:
            raise ViewError(f"a where needs a path: {w!r}")
        c = compile_expr(_path(w, "path"), ctx)
        if c.type not in ("boolean", None):
            raise ViewError(f"where path {w['path']!r} is {c.type}, not boolean")
        cond = F.coalesce(truth(c), F.lit(False))
        where = cond if where is None else where & cond
    tree.setdefault("id", {})
    schema = model.spark_schema(resource, tree)
    schema = T.StructType([T.StructField("resourceType", T.StringType()), *schema.fields])
    return CompiledView(name=view.get("name") or resource, resource=resource, schema=schema,
                        columns=list(rows.names), rows=rows, where=where, tree=tree)
