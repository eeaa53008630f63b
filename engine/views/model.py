"""What FHIR R4 says an element is, read from fhir.resources' R4B models, and the Spark schema a
view needs.

``element(type, name)`` gives an element's FHIR type and whether it repeats (the models carry the
cardinality of every element of every resource and datatype). ``spark_schema(type, tree)`` builds
the explicit schema for exactly the elements a view reads (``tree``: element name → the elements
read below it): the schema comes from the model, never from the data, so an element that no file
holds is still a typed (null) column.

Every primitive is held as a string: Spark's JSON reader returns the text the source wrote (a
number, a boolean, a date), the compiler casts it to its FHIR type where an expression needs a
value, and a view that declares a column as ``string`` gets the text as written (how ingest counts
``"value": "12,5"`` as a bad number instead of a silent null). A complex element read as a whole
(``name.exists()``) is held as its JSON text, so nothing below it is parsed.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import lru_cache

from pyspark.sql import types as T

_PRIMITIVE_PY = {bool: "boolean", str: "string", int: "integer"}
# fhir.resources names two primitives' validators after what they check, not after the FHIR type
_PRIMITIVE_FIX = {"encodedBytes": "base64Binary", "uuidVersion": "uuid"}


@dataclass(frozen=True)
class Element:
    name: str           # as written in JSON (valueQuantity, class)
    type: str           # FHIR type: HumanName, string, ObservationComponent (a backbone element)
    many: bool

    @property
    def primitive(self) -> bool:
        return self.type[:1].islower()


def _model(type_name: str):
    from fhir.resources.R4B import get_fhir_model_class
    try:
        return get_fhir_model_class(type_name)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None


def is_type(type_name: str) -> bool:
    return _model(type_name) is not None


def _fhir_type(annotation) -> tuple[str, bool]:
    many = False
    t = annotation
    while True:
        origin = typing.get_origin(t)
        args = typing.get_args(t)
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            t = next(a for a in args if a is not type(None))
        elif origin in (list, typing.List):
            many, t = True, args[0]
        elif origin is typing.Annotated:
            meta = args[1]
            name = type(meta).__name__
            name = name[:1].lower() + name[1:]
            return _PRIMITIVE_FIX.get(name, name), many
        else:
            break
    if t in _PRIMITIVE_PY:
        return _PRIMITIVE_PY[t], many
    name = getattr(t, "__name__", str(t))
    return (name[:-4] if name.endswith("Type") else name), many


@lru_cache(maxsize=None)
def elements(type_name: str) -> dict[str, Element]:
    """JSON name → Element for every element of a resource or datatype (empty if unknown)."""
    model = _model(type_name)
    if model is None:
        return {}
    out = {}
    for field in model.model_fields.values():
        extra = field.json_schema_extra or {}
        if not isinstance(extra, dict) or not extra.get("element_property"):
            continue
        ftype, many = _fhir_type(field.annotation)
        out[field.alias] = Element(field.alias, ftype, many)
    return out


@lru_cache(maxsize=None)
def choices(type_name: str) -> dict[str, dict[str, str]]:
    """Choice element (``value``) → {type suffix as FHIR writes it (``Quantity``, ``string``) → JSON name}."""
    model = _model(type_name)
    if model is None:
        return {}
    out: dict[str, dict[str, str]] = {}
    for field in model.model_fields.values():
        extra = field.json_schema_extra or {}
        base = extra.get("one_of_many") if isinstance(extra, dict) else None
        if base and field.alias.startswith(base):
            ftype, _ = _fhir_type(field.annotation)
            out.setdefault(base, {})[ftype] = field.alias
    return out


def element(type_name: str, name: str) -> Element | None:
    return elements(type_name).get(name)


def _leaf(el: Element) -> T.DataType:
    return T.ArrayType(T.StringType()) if el.many else T.StringType()


def spark_schema(type_name: str, tree: dict) -> T.StructType:
    """The struct for ``type_name`` holding exactly the elements in ``tree`` (name → subtree)."""
    fields = []
    for name, sub in sorted(tree.items()):
        el = element(type_name, name)
        if el is None:
            continue
        if el.primitive or not sub:
            dtype = _leaf(el)
        else:
            inner = spark_schema(el.type, sub)
            dtype = T.ArrayType(inner) if el.many else inner
        fields.append(T.StructField(name, dtype, True))
    return T.StructType(fields)


def merge(a: dict, b: dict) -> dict:
    """Two trees of element names as one."""
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if k in out else v
    return out
