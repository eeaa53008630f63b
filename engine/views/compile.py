"""A SQL on FHIR v2 ViewDefinition → PySpark column expressions, in one projection per resource.

Every select of a view becomes an array of row structs built with Spark's higher-order functions
(``transform``, ``filter``, ``flatten``): ``forEach`` maps its collection to the rows of its body,
``forEachOrNull`` does the same over one null item when the collection is empty, ``unionAll``
concatenates its branches' rows, and a select's parts are crossed (a part that is one row is merged
into every row of the others). The view's rows are then one ``inline`` of that array: no join, no
shuffle, no Python per resource.

Paths compile through engine.views.expressions, which records every element they read; the
resource's Spark schema is built from that record and fhir.resources' R4B model
(``engine.views.model``).

``repeat`` walks its paths depth-first to ``REPEAT_DEPTH`` levels. Nodes at different depths have
different Spark types (a deeper node has fewer levels below it), so each node is carried as its JSON
text and parsed back with the node's schema; only repeat pays that cost.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.views import model
from engine.views.expressions import (Coll, Ctx, ViewError, empty, item_of, arr, compile_expr, member, one, out_type,
                                      truth, value, values)
from engine.views.fhirpath import FhirPathError, parse


REPEAT_DEPTH = 8


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
        p = _body(node, replace(ctx, focus=item_of(items, x), row_index=i))
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
        p = _body(node, replace(ctx, focus=empty()))
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
