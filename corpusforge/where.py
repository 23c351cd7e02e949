"""`--where` expressions: the SQL `WHERE` subset that selecting documents by their columns needs,
parsed into a pyarrow compute expression (never `eval`: the text is the user's).

    expr     := or
    or       := and (OR and)*
    and      := not (AND not)*
    not      := NOT not | test
    test     := value [ (= | == | != | <> | < | <= | > | >=) value
                      | IS [NOT] NULL | [NOT] IN ( literal, ... ) ]
    value    := column | "quoted column" | number | 'string' | TRUE | FALSE | ( expr )

Keywords are case-insensitive. As in SQL (DuckDB, Spark), a comparison with a null is null, and a
row whose condition is null is not selected: `quality_score >= 0.3` drops a row without a
score; `x IS NULL OR ...` says what to do with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc

from corpusforge.errors import CorpusforgeError


class WhereError(CorpusforgeError):
    """A --where expression that cannot be parsed, or names a column the shards lack."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
      | (?P<string>'(?:[^']|'')*')
      | (?P<quoted>"(?:[^"]|"")+")
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op><=|>=|<>|!=|==|=|<|>|\(|\)|,)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "IS", "NULL", "IN", "TRUE", "FALSE"}
_COMPARE = {"=": "equal", "==": "equal", "!=": "not_equal", "<>": "not_equal"} | {
    "<": "less",
    "<=": "less_equal",
    ">": "greater",
    ">=": "greater_equal",
}


@dataclass(frozen=True)
class _Tok:
    kind: str  # number, string, column, keyword, op, end
    value: Any
    at: int


def _tokens(text: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise WhereError(f"--where: cannot read {text[pos:].strip()[:20]!r} (at character {pos + 1})")
        at = m.start(m.lastgroup)
        kind, raw = m.lastgroup, m.group(m.lastgroup)
        if kind == "number":
            out.append(_Tok("number", float(raw) if any(c in raw for c in ".eE") else int(raw), at))
        elif kind == "string":
            out.append(_Tok("string", raw[1:-1].replace("''", "'"), at))
        elif kind == "quoted":
            out.append(_Tok("column", raw[1:-1].replace('""', '"'), at))
        elif kind == "name" and raw.upper() in _KEYWORDS:
            out.append(_Tok("keyword", raw.upper(), at))
        elif kind == "name":
            out.append(_Tok("column", raw, at))
        else:
            out.append(_Tok("op", raw, at))
        pos = m.end()
    out.append(_Tok("end", None, len(text)))
    return out


@dataclass
class Where:
    """A parsed expression: `expression` for pyarrow, and the `columns` it reads."""

    text: str
    expression: pc.Expression
    columns: list[str] = field(default_factory=list)

    def check(self, available: list[str], where: str) -> None:
        missing = [c for c in self.columns if c not in available]
        if missing:
            raise WhereError(
                f"--where names column(s) {', '.join(map(repr, missing))}, which {where} lacks; "
                f"columns: {', '.join(available)}"
            )


def parse_where(text: str) -> Where:
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.toks, self.i = text, _tokens(text), 0
        self.columns: list[str] = []

    def parse(self) -> Where:
        if self.toks[0].kind == "end":
            raise WhereError("--where: the expression is empty")
        expr = self._or()
        if self.peek.kind != "end":
            self._fail("expected AND, OR or the end")
        if not isinstance(expr, pc.Expression) or self._literal(expr):
            raise WhereError(f"--where {self.text!r}: not a condition on columns")
        return Where(self.text, expr, list(dict.fromkeys(self.columns)))

    # -- helpers
    @property
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def _take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _is(self, kind: str, value: Any = None) -> bool:
        return self.peek.kind == kind and (value is None or self.peek.value == value)

    def _expect(self, kind: str, value: Any) -> None:
        if not self._is(kind, value):
            self._fail(f"expected {value}")
        self._take()

    def _fail(self, what: str) -> None:
        tok = self.peek
        found = "the end" if tok.kind == "end" else repr(str(tok.value))
        raise WhereError(f"--where {self.text!r}: {what}, found {found} at character {tok.at + 1}")

    @staticmethod
    def _literal(value: Any) -> bool:
        return not isinstance(value, pc.Expression)

    # -- grammar
    def _or(self) -> Any:
        left = self._and()
        while self._is("keyword", "OR"):
            self._take()
            left = pc.or_kleene(self._cond(left), self._cond(self._and()))
        return left

    def _and(self) -> Any:
        left = self._not()
        while self._is("keyword", "AND"):
            self._take()
            left = pc.and_kleene(self._cond(left), self._cond(self._not()))
        return left

    def _not(self) -> Any:
        if self._is("keyword", "NOT"):
            self._take()
            return pc.invert(self._cond(self._not()))
        return self._test()

    def _cond(self, value: Any) -> pc.Expression:
        if self._literal(value):
            return pc.scalar(value)
        return value

    def _test(self) -> Any:
        left = self._value()
        if self._is("op") and self.peek.value in _COMPARE:
            op = _COMPARE[self._take().value]
            right = self._value()
            if self._literal(left) and self._literal(right):
                raise WhereError(f"--where {self.text!r}: a comparison needs a column")
            return getattr(pc, op)(self._cond(left), self._cond(right))
        if self._is("keyword", "IS"):
            self._take()
            negate = self._is("keyword", "NOT") and bool(self._take())
            self._expect("keyword", "NULL")
            test = pc.is_null(self._cond(left))
            return pc.invert(test) if negate else test
        negate = False
        if (
            self._is("keyword", "NOT")
            and self.toks[self.i + 1].kind == "keyword"
            and self.toks[self.i + 1].value == "IN"
        ):
            self._take()
            negate = True
        if self._is("keyword", "IN"):
            self._take()
            self._expect("op", "(")
            items = [self._literal_value()]
            while self._is("op", ","):
                self._take()
                items.append(self._literal_value())
            self._expect("op", ")")
            test = pc.is_in(self._cond(left), value_set=_array(items))
            return pc.invert(test) if negate else test
        return left

    def _literal_value(self) -> Any:
        tok = self.peek
        if tok.kind in ("number", "string"):
            return self._take().value
        if tok.kind == "keyword" and tok.value in ("TRUE", "FALSE"):
            return self._take().value == "TRUE"
        self._fail("expected a number, a 'string', TRUE or FALSE")

    def _value(self) -> Any:
        tok = self.peek
        if tok.kind == "column":
            self._take()
            self.columns.append(tok.value)
            return pc.field(tok.value)
        if tok.kind == "op" and tok.value == "(":
            self._take()
            inner = self._or()
            self._expect("op", ")")
            return inner
        return self._literal_value()


def _array(items: list[Any]) -> Any:
    import pyarrow as pa

    try:
        return pa.array(items)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise WhereError(f"IN (...): the values must be of one type, got {items!r}") from None
