"""The FHIRPath subset of SQL on FHIR v2's shareable profile: text → a small syntax tree.

Nodes are tuples, so the compiler can match on their first item:

    ("lit", value, fhir_type)        'text', 12, 1.5, true, {} (empty)
    ("this",)                        $this
    ("index",)                       $index
    ("const", name)                  %name (a view constant, or %rowIndex)
    ("member", name)                 an element name read from the focus
    ("call", name, [args])           a function applied to the focus
    ("dot", left, right)             left.right (right is a member or a call)
    ("at", left, index)              left[index]
    ("op", symbol, left, right)      = != < <= > >= + - * / & | and or xor implies
    ("neg", operand)                 -operand

Operator precedence follows the FHIRPath grammar (N1): * / ; + - & ; | ; < > <= >= ; = != ; and ;
or xor ; implies.
"""
from __future__ import annotations

import re
from decimal import Decimal


class FhirPathError(ValueError):
    """The expression is not FHIRPath this compiler reads."""


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<date>@[0-9T:\-+.Z]+)
  | (?P<ext>%(?:[A-Za-z_][A-Za-z0-9_]*|`[^`]*`|'[^']*'))
  | (?P<var>\$(?:this|index|total))
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*|`[^`]*`)
  | (?P<op><=|>=|!=|!~|[=~<>+\-*/&|(),.\[\]{}])
""", re.VERBOSE)

_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(body: str) -> str:
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)",
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "u" else _ESCAPES.get(m.group(1),
                                                                                                    m.group(1)),
                  body)


def tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise FhirPathError(f"cannot read FHIRPath {text!r} at character {pos + 1}")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    return out


_BINARY = [("implies",), ("or", "xor"), ("and",), ("=", "!=", "~", "!~"), ("<", ">", "<=", ">="), ("|",),
           ("+", "-", "&"), ("*", "/", "div", "mod")]


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            want = f"'{value}'" if value else "more"
            raise FhirPathError(f"FHIRPath {self.text!r}: expected {want}, found {tok[1] if tok else 'the end'}")
        self.i += 1
        return tok

    def parse(self):
        node = self.binary(0)
        if self.peek() is not None:
            raise FhirPathError(f"FHIRPath {self.text!r}: unexpected {self.peek()[1]!r}")
        return node

    def binary(self, level: int):
        if level == len(_BINARY):
            return self.unary()
        node = self.binary(level + 1)
        while (tok := self.peek()) is not None and tok[1] in _BINARY[level] and tok[0] in ("op", "id"):
            self.i += 1
            node = ("op", tok[1], node, self.binary(level + 1))
        return node

    def unary(self):
        tok = self.peek()
        if tok and tok[1] in ("-", "+") and tok[0] == "op":
            self.i += 1
            operand = self.unary()
            return ("neg", operand) if tok[1] == "-" else operand
        return self.postfix()

    def postfix(self):
        node = self.term()
        while (tok := self.peek()) is not None and tok[1] in (".", "["):
            self.i += 1
            if tok[1] == ".":
                node = ("dot", node, self.invocation())
            else:
                index = self.binary(0)
                self.take("]")
                node = ("at", node, index)
        return node

    def invocation(self):
        kind, value = self.take()
        if kind != "id":
            raise FhirPathError(f"FHIRPath {self.text!r}: expected a name after '.', found {value!r}")
        name = value.strip("`")
        if (tok := self.peek()) is not None and tok[1] == "(":
            self.i += 1
            args = []
            if self.peek() is not None and self.peek()[1] != ")":
                args.append(self.binary(0))
                while self.peek() is not None and self.peek()[1] == ",":
                    self.i += 1
                    args.append(self.binary(0))
            self.take(")")
            return ("call", name, args)
        return ("member", name)

    def term(self):
        tok = self.peek()
        if tok is None:
            raise FhirPathError(f"FHIRPath {self.text!r} ends too early")
        kind, value = tok
        if kind == "str":
            self.i += 1
            return ("lit", _unescape(value[1:-1]), "string")
        if kind == "num":
            self.i += 1
            return ("lit", Decimal(value), "decimal") if "." in value else ("lit", int(value), "integer")
        if kind == "date":
            self.i += 1
            body = value[1:]
            if body.startswith("T"):
                return ("lit", body[1:], "time")
            return ("lit", body, "dateTime" if "T" in body else "date")
        if kind == "ext":
            self.i += 1
            return ("const", value[1:].strip("`'"))
        if kind == "var":
            self.i += 1
            return ("this",) if value == "$this" else ("index",)
        if value == "(":
            self.i += 1
            node = self.binary(0)
            self.take(")")
            return node
        if value == "{":
            self.i += 1
            self.take("}")
            return ("lit", None, None)
        if kind == "id" and value in ("true", "false"):
            self.i += 1
            return ("lit", value == "true", "boolean")
        if kind == "id":
            return self.invocation()
        raise FhirPathError(f"FHIRPath {self.text!r}: unexpected {value!r}")


def parse(text: str):
    if not isinstance(text, str) or not text.strip():
        raise FhirPathError(f"a FHIRPath expression must be non-empty text, not {text!r}")
    return _Parser(text).parse()
