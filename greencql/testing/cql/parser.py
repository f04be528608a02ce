"""Recursive-descent parser of the simulator's CQL subset.

Owns: CQL text -> :mod:`greencql.testing.cql.ast` statements. Covers keyspace/table/type/index
DDL, USE, INSERT, UPDATE, DELETE, BATCH, TRUNCATE and SELECT with bind markers (``?`` and
``:name``) wherever a value may stand. Anything else is refused with
:class:`greencql.errors.SyntaxException` whose message follows Cassandra's ANTLR wording
("line 1:0 no viable alternative at input 'SELEKT' ..."), so the parser never raises anything
else on any input. It knows nothing about the schema or storage.
"""

from __future__ import annotations

from typing import Any

from greencql.errors import SyntaxException
from greencql.testing.cql import ast
from greencql.testing.cql.lexer import Token, tokenize

__all__ = ["parse", "parse_statement", "parse_type"]

# Words that cannot be used as unquoted identifiers (Cassandra 4.0's reserved keywords).
_RESERVED = frozenset(
    """add allow alter and apply asc authorize batch begin by columnfamily create default delete
    desc describe drop entries execute from full grant if in index infinity insert into is
    keyspace limit materialized mbean mbeans modify nan norecursive not null of on or order
    primary rename replace revoke schema select set table to token truncate unlogged unset
    update use using view where with""".split()
)
_STATEMENT_STARTS = ("select", "insert", "update", "delete", "begin", "use", "create", "alter",
                     "drop", "truncate", "describe", "desc")
_DESCRIBE_WORDS = ("keyspaces", "tables", "types", "functions", "aggregates", "schema",
                   "cluster", "keyspace", "table", "columnfamily", "type", "index", "function",
                   "aggregate", "materialized")
_NATIVE_TYPES = frozenset(
    """ascii bigint blob boolean counter date decimal double duration float inet int smallint
    text time timestamp timeuuid tinyint uuid varchar varint""".split()
)


def parse(text: str) -> ast.Statement:
    """Parse one statement (an optional trailing ';' is allowed)."""
    return _Parser(text).parse_single()


parse_statement = parse


def parse_type(text: str) -> ast.TypeExpr:
    """Parse a type expression such as ``map<text, frozen<list<int>>>``."""
    p = _Parser(text)
    t = p.type_expr()
    p.expect_eof()
    return t


class _Parser:
    __slots__ = ("markers", "pos", "text", "toks")

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[Token] = tokenize(text)
        self.pos = 0
        self.markers = 0

    # -- token helpers ----------------------------------------------------------------------

    def peek(self, k: int = 0) -> Token:
        i = self.pos + k
        return self.toks[i] if i < len(self.toks) else self.toks[-1]

    def next(self) -> Token:
        t = self.toks[self.pos]
        if t.kind != "EOF":
            self.pos += 1
        return t

    def at_kw(self, *words: str) -> bool:
        t = self.peek()
        return t.kind == "IDENT" and t.lower in words

    def accept_kw(self, *words: str) -> bool:
        for i, w in enumerate(words):
            t = self.peek(i)
            if t.kind != "IDENT" or t.lower != w:
                return False
        self.pos += len(words)
        return True

    def expect_kw(self, *words: str) -> None:
        for w in words:
            t = self.peek()
            if t.kind != "IDENT" or t.lower != w:
                self.fail(t, "K_" + w.upper())
            self.pos += 1

    def at_op(self, *ops: str) -> bool:
        t = self.peek()
        return t.kind == "OP" and t.text in ops

    def accept_op(self, op: str) -> bool:
        t = self.peek()
        if t.kind == "OP" and t.text == op:
            self.pos += 1
            return True
        return False

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            self.fail(self.peek(), f"'{op}'")

    def expect_eof(self) -> None:
        while self.accept_op(";"):
            pass
        t = self.peek()
        if t.kind != "EOF":
            raise SyntaxException(
                f"line {t.line}:{t.col} extraneous input '{t.text}' expecting <EOF> "
                f"({self._context(t)})"
            )

    def _context(self, t: Token) -> str:
        start = max(0, self.pos - 2)
        before = " ".join(x.text for x in self.toks[start : self.pos] if x.kind != "EOF")
        here = t.text
        return f"{before} [{here}]..." if before else f"[{here}]..."

    def fail(self, t: Token, expecting: str | None = None) -> Any:
        if expecting is None:
            raise SyntaxException(
                f"line {t.line}:{t.col} no viable alternative at input '{t.text}' "
                f"({self._context(t)})"
            )
        raise SyntaxException(
            f"line {t.line}:{t.col} mismatched input '{t.text}' expecting {expecting} "
            f"({self._context(t)})"
        )

    # -- names ------------------------------------------------------------------------------

    def ident(self, what: str = "IDENT") -> str:
        t = self.peek()
        if t.kind == "QIDENT":
            self.pos += 1
            return t.value
        if t.kind == "IDENT" and t.lower not in _RESERVED:
            self.pos += 1
            return t.lower
        return self.fail(t, what)

    def any_ident(self) -> str:
        """An identifier where reserved words are fine (option names, field names)."""
        t = self.peek()
        if t.kind == "QIDENT":
            self.pos += 1
            return t.value
        if t.kind == "IDENT":
            self.pos += 1
            return t.lower
        return self.fail(t, "IDENT")

    def qualified(self) -> ast.QualifiedName:
        first = self.ident()
        if self.accept_op("."):
            return ast.QualifiedName(first, self.ident())
        return ast.QualifiedName(None, first)

    # -- entry ------------------------------------------------------------------------------

    def parse_single(self) -> ast.Statement:
        stmt = self.statement()
        self.expect_eof()
        return stmt

    def statement(self) -> ast.Statement:
        t = self.peek()
        word = t.lower
        if word not in _STATEMENT_STARTS:
            self.fail(t)
        if word == "select":
            return self.select()
        if word == "insert":
            return self.insert()
        if word == "update":
            return self.update()
        if word == "delete":
            return self.delete()
        if word == "begin":
            return self.batch()
        if word == "use":
            self.next()
            return ast.UseStmt(self.ident())
        if word == "truncate":
            self.next()
            self.accept_kw("table") or self.accept_kw("columnfamily")
            return ast.Truncate(self.qualified())
        if word == "create":
            return self.create()
        if word in ("describe", "desc"):
            return self.describe()
        if word == "alter":
            return self.alter()
        return self.drop()

    # -- terms ------------------------------------------------------------------------------

    def marker(self) -> ast.Marker | None:
        t = self.peek()
        if t.kind == "MARKER":
            self.pos += 1
            m = ast.Marker(self.markers)
            self.markers += 1
            return m
        if t.kind == "NAMED_MARKER":
            self.pos += 1
            m = ast.Marker(self.markers, t.value)
            self.markers += 1
            return m
        return None

    def term(self) -> ast.Term:
        t = self.peek()
        m = self.marker()
        if m is not None:
            return m
        k = t.kind
        if k in ("STRING", "INTEGER", "FLOAT", "HEX", "UUID", "DURATION"):
            self.pos += 1
            return ast.Const(k, t.text, t.value)
        if k == "OP":
            if t.text == "-" and self.peek(1).kind in ("INTEGER", "FLOAT"):
                self.pos += 1
                n = self.next()
                return ast.Const(n.kind, "-" + n.text, "-" + n.value)
            if t.text == "-" and self.peek(1).kind == "IDENT" and self.peek(1).lower in (
                    "infinity", "nan"):
                self.pos += 2
                w = self.toks[self.pos - 1].lower
                return ast.Const("FLOAT", "-" + self.toks[self.pos - 1].text,
                                 "nan" if w == "nan" else "-infinity")
            if t.text == "[":
                self.pos += 1
                items = []
                if not self.accept_op("]"):
                    items.append(self.term())
                    while self.accept_op(","):
                        items.append(self.term())
                    self.expect_op("]")
                return ast.CollectionLit("list", tuple(items))
            if t.text == "{":
                return self.brace_literal()
            if t.text == "(":
                self.pos += 1
                if self.accept_op(")"):
                    return ast.TupleLit(())
                # a cast like (int) 3 is not supported; a tuple literal is
                items = [self.term()]
                while self.accept_op(","):
                    items.append(self.term())
                self.expect_op(")")
                return ast.TupleLit(tuple(items))
        if k == "IDENT":
            w = t.lower
            if w in ("true", "false"):
                self.pos += 1
                return ast.Const("BOOLEAN", t.text, w == "true")
            if w == "null":
                self.pos += 1
                return ast.Const("NULL", t.text)
            if w in ("nan", "infinity"):
                self.pos += 1
                return ast.Const("FLOAT", t.text, w)
            if self.peek(1).kind == "OP" and self.peek(1).text == "(":
                name = w
                self.pos += 2
                args = []
                if not self.accept_op(")"):
                    args.append(self.term())
                    while self.accept_op(","):
                        args.append(self.term())
                    self.expect_op(")")
                return ast.FuncTerm(name, tuple(args))
        return self.fail(t)

    def brace_literal(self) -> ast.Term:
        self.expect_op("{")
        if self.accept_op("}"):
            return ast.CollectionLit("map", ())
        # UDT literal: {ident: term, ...}
        t0, t1 = self.peek(), self.peek(1)
        if t0.kind in ("IDENT", "QIDENT") and t1.kind == "OP" and t1.text == ":" and not (
            t0.kind == "IDENT" and t0.lower in ("true", "false", "null", "nan", "infinity")
        ) and not (self.peek(2).kind == "OP" and self.peek(2).text == "("):
            fields = []
            while True:
                name = self.any_ident()
                self.expect_op(":")
                fields.append((name, self.term()))
                if not self.accept_op(","):
                    break
            self.expect_op("}")
            return ast.UdtLit(tuple(fields))
        first = self.term()
        if self.accept_op(":"):
            items: list[Any] = [(first, self.term())]
            while self.accept_op(","):
                k = self.term()
                self.expect_op(":")
                items.append((k, self.term()))
            self.expect_op("}")
            return ast.CollectionLit("map", tuple(items))
        items = [first]
        while self.accept_op(","):
            items.append(self.term())
        self.expect_op("}")
        return ast.CollectionLit("set", tuple(items))

    def int_or_marker(self) -> ast.Term:
        m = self.marker()
        if m is not None:
            return m
        t = self.peek()
        if t.kind == "INTEGER":
            self.pos += 1
            return ast.Const("INTEGER", t.text, t.value)
        return self.fail(t, "INTEGER")

    # -- types ------------------------------------------------------------------------------

    def type_expr(self) -> ast.TypeExpr:
        t = self.peek()
        if t.kind == "STRING":  # custom types: 'org.apache...'
            self.pos += 1
            return ast.TypeExpr("custom:" + t.value)
        if t.kind == "QIDENT":
            self.pos += 1
            name, ks = t.value, None
            if self.accept_op("."):
                ks, name = name, self.ident()
            return ast.TypeExpr(name, (), ks)
        if t.kind != "IDENT":
            return self.fail(t, "type")
        w = t.lower
        self.pos += 1
        if w in ("list", "set", "frozen"):
            self.expect_op("<")
            inner = self.type_expr()
            self.expect_op(">")
            return ast.TypeExpr(w, (inner,))
        if w == "map":
            self.expect_op("<")
            kt = self.type_expr()
            self.expect_op(",")
            vt = self.type_expr()
            self.expect_op(">")
            return ast.TypeExpr(w, (kt, vt))
        if w == "vector":
            self.expect_op("<")
            elem = self.type_expr()
            self.expect_op(",")
            t = self.peek()
            if t.kind != "INTEGER":
                return self.fail(t, "INTEGER")
            self.pos += 1
            self.expect_op(">")
            return ast.TypeExpr(w, (elem,), dimension=int(t.text))
        if w == "tuple":
            self.expect_op("<")
            params = [self.type_expr()]
            while self.accept_op(","):
                params.append(self.type_expr())
            self.expect_op(">")
            return ast.TypeExpr(w, tuple(params))
        if w in _NATIVE_TYPES:
            return ast.TypeExpr("text" if w == "varchar" else w)
        if w in _RESERVED:
            return self.fail(t, "type")
        if self.accept_op("."):
            return ast.TypeExpr(self.ident(), (), w)
        return ast.TypeExpr(w)

    # -- options (WITH a = b AND c = {..}) ----------------------------------------------------

    def option_value(self) -> Any:
        t = self.peek()
        if t.kind == "OP" and t.text == "{":
            self.pos += 1
            out: dict[str, Any] = {}
            if not self.accept_op("}"):
                while True:
                    kt = self.next()
                    if kt.kind not in ("STRING", "IDENT", "QIDENT", "INTEGER"):
                        self.fail(kt, "STRING")
                    key = kt.value if kt.kind != "IDENT" else kt.lower
                    self.expect_op(":")
                    out[key] = self.option_value()
                    if not self.accept_op(","):
                        break
                self.expect_op("}")
            return out
        if t.kind in ("STRING", "INTEGER", "FLOAT", "QIDENT", "UUID", "HEX"):
            self.pos += 1
            return t.value
        if t.kind == "OP" and t.text == "-" and self.peek(1).kind in ("INTEGER", "FLOAT"):
            self.pos += 1
            return "-" + self.next().value
        if t.kind == "IDENT":
            self.pos += 1
            w = t.lower
            if w in ("true", "false"):
                return w == "true"
            return t.text
        return self.fail(t, "value")

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        while True:
            name = self.any_ident()
            self.expect_op("=")
            opts[name] = self.option_value()
            if not self.accept_kw("and"):
                return opts

    # -- DDL --------------------------------------------------------------------------------

    def if_not_exists(self) -> bool:
        return self.accept_kw("if", "not", "exists")

    def if_exists(self) -> bool:
        return self.accept_kw("if", "exists")

    def create(self) -> ast.Statement:
        self.expect_kw("create")
        if self.accept_kw("keyspace") or self.accept_kw("schema"):
            ine = self.if_not_exists()
            name = self.ident()
            self.expect_kw("with")
            return ast.CreateKeyspace(name, ine, self.options())
        if self.accept_kw("table") or self.accept_kw("columnfamily"):
            return self.create_table()
        if self.accept_kw("type"):
            ine = self.if_not_exists()
            qn = self.qualified()
            self.expect_op("(")
            fields = []
            while True:
                fname = self.ident()
                fields.append((fname, self.type_expr()))
                if not self.accept_op(","):
                    break
            self.expect_op(")")
            return ast.CreateType(qn, ine, tuple(fields))
        custom = self.accept_kw("custom")
        if self.accept_kw("index"):
            ine = self.if_not_exists()
            name = None
            if not self.at_kw("on"):
                name = self.ident()
            self.expect_kw("on")
            table = self.qualified()
            self.expect_op("(")
            kind = "values"
            if self.at_kw("keys", "values", "entries", "full") and self.peek(1).text == "(":
                kind = self.next().lower
                self.expect_op("(")
                target = self.ident()
                self.expect_op(")")
            else:
                target = self.ident()
                kind = "values"
            self.expect_op(")")
            custom_class = None
            if self.accept_kw("using"):
                t = self.next()
                if t.kind != "STRING":
                    self.fail(t, "STRING")
                custom_class = t.value
                if self.accept_kw("with"):
                    self.options()
            elif custom:
                self.fail(self.peek(), "K_USING")
            return ast.CreateIndex(name, table, target, kind, ine, custom_class)
        t = self.peek()
        if self.at_kw("materialized") and self.peek(1).lower == "view":
            return self._refused("Materialized views are disabled. Enable in cassandra.yaml to "
                                 "use.")
        if self.at_kw("function") or (self.at_kw("or") and self.peek(1).lower == "replace"
                                      and self.peek(2).lower == "function"):
            return self._refused("User-defined functions are disabled in cassandra.yaml - set "
                                 "enable_user_defined_functions=true to enable")
        if t.kind == "IDENT" and t.lower in (
            "materialized", "function", "aggregate", "role", "user", "trigger", "or"
        ):
            raise SyntaxException(
                f"line {t.line}:{t.col} CREATE {t.text.upper()} is not supported by the "
                "simulated cluster"
            )
        return self.fail(t)

    def describe(self) -> ast.Describe:
        self.next()
        words: list[str] = []
        if self.accept_kw("full"):
            words.append("full")
        if self.accept_kw("only"):
            words.append("only")
        t = self.peek()
        if t.kind == "IDENT" and t.lower in _DESCRIBE_WORDS and (
                self.peek(1).kind in ("EOF", "IDENT", "QIDENT") or self.peek(1).text == ";"):
            words.append(t.lower)
            self.pos += 1
            if t.lower == "materialized":
                self.expect_kw("view")
        if self.accept_kw("only"):
            words.append("only")
        if self.peek().kind in ("IDENT", "QIDENT"):
            first = self.any_ident()
            if self.accept_op("."):
                return ast.Describe(tuple(words), first, self.any_ident())
            return ast.Describe(tuple(words), None, first)
        return ast.Describe(tuple(words))

    def _refused(self, message: str) -> ast.Refused:
        """The rest of a statement the default configuration refuses (its body is not
        checked beyond being tokens)."""
        while self.peek().kind != "EOF":
            self.pos += 1
        return ast.Refused(message)

    def create_table(self) -> ast.CreateTable:
        ine = self.if_not_exists()
        table = self.qualified()
        self.expect_op("(")
        columns: list[ast.ColumnDefAst] = []
        pk: list[str] = []
        clustering: list[str] = []
        pk_declared = 0
        while True:
            if self.at_kw("primary") and self.peek(1).lower == "key":
                self.pos += 2
                pk_declared += 1
                self.expect_op("(")
                if self.accept_op("("):
                    pk.append(self.ident())
                    while self.accept_op(","):
                        pk.append(self.ident())
                    self.expect_op(")")
                else:
                    pk.append(self.ident())
                while self.accept_op(","):
                    clustering.append(self.ident())
                self.expect_op(")")
            else:
                name = self.ident()
                typ = self.type_expr()
                static = self.accept_kw("static")
                if self.accept_kw("primary", "key"):
                    pk_declared += 1
                    pk.append(name)
                columns.append(ast.ColumnDefAst(name, typ, static))
            if not self.accept_op(","):
                break
            if self.at_op(")"):
                break
        self.expect_op(")")
        order: list[tuple[str, str]] = []
        options: dict[str, Any] = {}
        compact = False
        if self.accept_kw("with"):
            while True:
                if self.accept_kw("clustering", "order", "by"):
                    self.expect_op("(")
                    while True:
                        cname = self.ident()
                        direction = "asc"
                        if self.accept_kw("desc"):
                            direction = "desc"
                        else:
                            self.accept_kw("asc")
                        order.append((cname, direction))
                        if not self.accept_op(","):
                            break
                    self.expect_op(")")
                elif self.accept_kw("compact", "storage"):
                    compact = True
                else:
                    name = self.any_ident()
                    self.expect_op("=")
                    options[name] = self.option_value()
                if not self.accept_kw("and"):
                    break
        return ast.CreateTable(
            table, ine, tuple(columns), tuple(pk), tuple(clustering), tuple(order), options,
            compact, pk_declared > 1,
        )

    def alter(self) -> ast.Statement:
        self.expect_kw("alter")
        # ALTER ... IF EXISTS and ADD IF NOT EXISTS / DROP IF EXISTS are 4.1 syntax
        if self.accept_kw("keyspace") or self.accept_kw("schema"):
            name = self.ident()
            self.expect_kw("with")
            return ast.AlterKeyspace(name, False, self.options())
        if self.accept_kw("table") or self.accept_kw("columnfamily"):
            ie = False
            table = self.qualified()
            if self.accept_kw("add"):
                cols = []
                paren = self.accept_op("(")
                while True:
                    name = self.ident()
                    typ = self.type_expr()
                    cols.append(ast.ColumnDefAst(name, typ, self.accept_kw("static")))
                    if not (paren and self.accept_op(",")):
                        break
                if paren:
                    self.expect_op(")")
                return ast.AlterTable(table, "add", tuple(cols), if_exists=ie)
            if self.accept_kw("alter"):
                self.ident()
                self.expect_kw("type")
                self.type_expr()
                return ast.AlterTable(table, "refused",
                                      names=("Altering column types is no longer supported",))
            if self.accept_kw("drop", "compact", "storage"):
                return ast.AlterTable(table, "refused", names=(
                    "DROP COMPACT STORAGE is disabled. Enable in cassandra.yaml to use.",))
            if self.accept_kw("drop"):
                names = []
                if self.accept_op("("):
                    names.append(self.ident())
                    while self.accept_op(","):
                        names.append(self.ident())
                    self.expect_op(")")
                else:
                    names.append(self.ident())
                return ast.AlterTable(table, "drop", names=tuple(names), if_exists=ie)
            if self.accept_kw("with"):
                return ast.AlterTable(table, "with", options=self.options(), if_exists=ie)
            if self.accept_kw("rename"):
                pairs = []
                while True:
                    a = self.ident()
                    self.expect_kw("to")
                    pairs.append(a)
                    pairs.append(self.ident())
                    if not self.accept_kw("and"):
                        break
                return ast.AlterTable(table, "rename", names=tuple(pairs), if_exists=ie)
            return self.fail(self.peek())
        if self.accept_kw("type"):
            name = self.qualified()
            if self.accept_kw("add"):
                fname = self.any_ident_not_reserved()
                return ast.AlterType(name, "add", ((fname, self.type_expr()),))
            if self.accept_kw("rename"):
                pairs = []
                while True:
                    a = self.any_ident_not_reserved()
                    self.expect_kw("to")
                    pairs.append((a, self.any_ident_not_reserved()))
                    if not self.accept_kw("and"):
                        break
                return ast.AlterType(name, "rename", renames=tuple(pairs))
            if self.at_kw("alter"):
                t = self.peek()
                raise SyntaxException(f"line {t.line}:{t.col} mismatched input '{t.text}' "
                                      f"expecting K_RENAME ({self._context(t)})")
            return self.fail(self.peek())
        return self.fail(self.peek())

    def any_ident_not_reserved(self) -> str:
        return self.ident()

    def drop(self) -> ast.Statement:
        self.expect_kw("drop")
        if self.accept_kw("keyspace") or self.accept_kw("schema"):
            ie = self.if_exists()
            return ast.DropKeyspace(self.ident(), ie)
        if self.accept_kw("table") or self.accept_kw("columnfamily"):
            ie = self.if_exists()
            return ast.DropTable(self.qualified(), ie)
        if self.accept_kw("type"):
            ie = self.if_exists()
            return ast.DropType(self.qualified(), ie)
        if self.accept_kw("index"):
            ie = self.if_exists()
            return ast.DropIndex(self.qualified(), ie)
        return self.fail(self.peek())

    # -- DML --------------------------------------------------------------------------------

    def using(self, allow_ttl: bool = True) -> tuple[ast.Term | None, ast.Term | None]:
        ttl = ts = None
        if self.accept_kw("using"):
            while True:
                if allow_ttl and self.accept_kw("ttl"):
                    ttl = self.int_or_marker()
                elif self.accept_kw("timestamp"):
                    ts = self.int_or_marker()
                else:
                    self.fail(self.peek(), "K_TIMESTAMP")
                if not self.accept_kw("and"):
                    break
        return ttl, ts

    def insert(self) -> ast.Insert:
        self.expect_kw("insert", "into")
        table = self.qualified()
        if self.accept_kw("json"):
            value = self.term()
            unset = False
            if self.accept_kw("default"):
                if self.accept_kw("unset"):
                    unset = True
                else:
                    self.expect_kw("null")
            ine = self.if_not_exists()
            ttl, ts = self.using()
            return ast.Insert(table, (), (), ine, ttl, ts, json=value, json_default_unset=unset)
        self.expect_op("(")
        cols = [self.ident()]
        while self.accept_op(","):
            cols.append(self.ident())
        self.expect_op(")")
        self.expect_kw("values")
        self.expect_op("(")
        vals = [self.term()]
        while self.accept_op(","):
            vals.append(self.term())
        self.expect_op(")")
        ine = self.if_not_exists()
        ttl, ts = self.using()
        if not ine:
            ine = self.if_not_exists()
        return ast.Insert(table, tuple(cols), tuple(vals), ine, ttl, ts)

    def update(self) -> ast.Update:
        self.expect_kw("update")
        table = self.qualified()
        ttl, ts = self.using()
        self.expect_kw("set")
        assigns = [self.assignment()]
        while self.accept_op(","):
            assigns.append(self.assignment())
        self.expect_kw("where")
        where = self.where()
        ie, conds = self.lwt_conditions()
        return ast.Update(table, tuple(assigns), where, ie, conds, ttl, ts)

    def assignment(self) -> ast.Assignment:
        col = self.ident()
        if self.accept_op("["):
            key = self.term()
            self.expect_op("]")
            self.expect_op("=")
            return ast.Assignment(col, "set_elem", self.term(), key)
        if self.accept_op("."):
            fname = self.any_ident()
            self.expect_op("=")
            return ast.Assignment(col, "set_field", self.term(), fname)
        if self.accept_op("+="):
            return ast.Assignment(col, "add", self.term())
        if self.accept_op("-="):
            return ast.Assignment(col, "sub", self.term())
        self.expect_op("=")
        t = self.peek()
        if (t.kind == "IDENT" and t.lower == col) or (t.kind == "QIDENT" and t.value == col):
            # col = col + x / col = col - x (a negative literal lexes as one token)
            self.pos += 1
            if self.accept_op("+"):
                return ast.Assignment(col, "add", self.term())
            if self.accept_op("-"):
                return ast.Assignment(col, "sub", self.term())
            n = self.peek()
            if n.kind in ("INTEGER", "FLOAT") and n.text.startswith("-"):
                self.pos += 1
                return ast.Assignment(col, "sub", ast.Const(n.kind, n.text[1:], n.value[1:]))
            return self.fail(self.peek(), "'+'")
        value = self.term()
        if self.accept_op("+"):
            t = self.peek()
            name = self.ident()
            if name != col:
                self.fail(t, col)
            return ast.Assignment(col, "prepend", value)
        return ast.Assignment(col, "set", value)

    def lwt_conditions(self) -> tuple[bool, tuple[ast.Condition, ...]]:
        if not self.at_kw("if"):
            return False, ()
        if self.accept_kw("if", "exists"):
            return True, ()
        self.expect_kw("if")
        conds = [self.condition()]
        while self.accept_kw("and"):
            conds.append(self.condition())
        return False, tuple(conds)

    def condition(self) -> ast.Condition:
        col = self.ident()
        key = None
        if self.accept_op("["):
            key = self.term()
            self.expect_op("]")
        elif self.accept_op("."):
            key = ast.Const("FIELD", self.any_ident())
        if self.accept_kw("in"):
            return ast.Condition(col, "IN", self.in_values(), key)
        t = self.next()
        if t.kind != "OP" or t.text not in ("=", "<", "<=", ">", ">=", "!="):
            self.fail(t, "'='")
        return ast.Condition(col, t.text, self.term(), key)

    def delete(self) -> ast.Delete:
        self.expect_kw("delete")
        targets = []
        if not self.at_kw("from"):
            while True:
                col = self.ident()
                key = None
                fname = None
                if self.accept_op("["):
                    key = self.term()
                    self.expect_op("]")
                elif self.accept_op("."):
                    fname = self.any_ident()
                targets.append(ast.DeleteTarget(col, key, fname))
                if not self.accept_op(","):
                    break
        self.expect_kw("from")
        table = self.qualified()
        _ttl, ts = self.using(allow_ttl=False)
        self.expect_kw("where")
        where = self.where()
        ie, conds = self.lwt_conditions()
        return ast.Delete(table, tuple(targets), where, ie, conds, ts)

    def batch(self) -> ast.Batch:
        self.expect_kw("begin")
        kind = "LOGGED"
        if self.accept_kw("unlogged"):
            kind = "UNLOGGED"
        elif self.accept_kw("counter"):
            kind = "COUNTER"
        elif self.accept_kw("logged"):
            kind = "LOGGED"
        self.expect_kw("batch")
        ttl, ts = self.using()
        stmts: list[ast.Statement] = []
        while not self.at_kw("apply"):
            t = self.peek()
            if t.lower == "insert":
                stmts.append(self.insert())
            elif t.lower == "update":
                stmts.append(self.update())
            elif t.lower == "delete":
                stmts.append(self.delete())
            else:
                self.fail(t, "K_APPLY")
            self.accept_op(";")
        self.expect_kw("apply", "batch")
        return ast.Batch(kind, tuple(stmts), ts, ttl)

    # -- WHERE ------------------------------------------------------------------------------

    def where(self) -> tuple[ast.Relation, ...]:
        rels = [self.relation()]
        while self.accept_kw("and"):
            rels.append(self.relation())
        return tuple(rels)

    def in_values(self) -> Any:
        m = self.marker()
        if m is not None:
            return m
        self.expect_op("(")
        vals: list[ast.Term] = []
        if not self.accept_op(")"):
            vals.append(self.term())
            while self.accept_op(","):
                vals.append(self.term())
            self.expect_op(")")
        return tuple(vals)

    def tuple_in_values(self) -> Any:
        """``IN ((1, 'a'), (2, 'b'))``, ``IN (?, ?)`` or ``IN ?``."""
        m = self.marker()
        if m is not None:
            return m
        self.expect_op("(")
        vals: list[ast.Term] = []
        if not self.accept_op(")"):
            while True:
                t = self.peek()
                if not (t.kind in ("MARKER", "NAMED_MARKER") or t.text == "("):
                    self.fail(t, "'('")
                vals.append(self.term())
                if not self.accept_op(","):
                    break
            self.expect_op(")")
        return tuple(vals)

    def relation(self) -> ast.Relation:
        lhs: Any
        if self.at_kw("token") and self.peek(1).text == "(":
            self.pos += 2
            cols = [self.ident()]
            while self.accept_op(","):
                cols.append(self.ident())
            self.expect_op(")")
            lhs = ("token", tuple(cols))
        elif self.accept_op("("):
            cols = [self.ident()]
            while self.accept_op(","):
                cols.append(self.ident())
            self.expect_op(")")
            lhs = ("tuple", tuple(cols))
        else:
            lhs = self.ident()
            if self.accept_op("["):
                key = self.term()
                self.expect_op("]")
                lhs = ("elem", lhs, key)
        if isinstance(lhs, tuple) and lhs[0] == "tuple" and self.accept_kw("in"):
            return ast.Relation(lhs, "IN", self.tuple_in_values())
        if self.accept_kw("in"):
            return ast.Relation(lhs, "IN", self.in_values())
        if self.accept_kw("contains"):
            if self.accept_kw("key"):
                return ast.Relation(lhs, "CONTAINS_KEY", self.term())
            return ast.Relation(lhs, "CONTAINS", self.term())
        t = self.next()
        if t.kind != "OP" or t.text not in ("=", "<", "<=", ">", ">=", "!="):
            self.fail(t)
        return ast.Relation(lhs, t.text, self.term())

    # -- SELECT -----------------------------------------------------------------------------

    def select(self) -> ast.Select:
        self.expect_kw("select")
        json = self.accept_kw("json")
        distinct = False
        if self.at_kw("distinct") and not (
            self.peek(1).kind == "IDENT" and self.peek(1).lower in ("from", "as")
        ) and self.peek(1).text != ",":
            self.pos += 1
            distinct = True
        selectors: tuple[ast.Selector, ...] | None
        if self.accept_op("*"):
            selectors = None
        else:
            sel = [self.selector()]
            while self.accept_op(","):
                sel.append(self.selector())
            selectors = tuple(sel)
        self.expect_kw("from")
        table = self.qualified()
        where: tuple[ast.Relation, ...] = ()
        if self.accept_kw("where"):
            where = self.where()
        group_by: list[str] = []
        if self.accept_kw("group", "by"):
            group_by.append(self.ident())
            while self.accept_op(","):
                group_by.append(self.ident())
        order: list[tuple[str, str]] = []
        if self.accept_kw("order", "by"):
            while True:
                col = self.ident()
                direction = "asc"
                if self.accept_kw("desc"):
                    direction = "desc"
                else:
                    self.accept_kw("asc")
                order.append((col, direction))
                if not self.accept_op(","):
                    break
        ppl = limit = None
        if self.accept_kw("per", "partition", "limit"):
            ppl = self.int_or_marker()
        if self.accept_kw("limit"):
            limit = self.int_or_marker()
        allow = self.accept_kw("allow", "filtering")
        return ast.Select(
            table, selectors, where, distinct, json, tuple(order), limit, ppl, allow,
            tuple(group_by),
        )

    def selector(self) -> ast.Selector:
        expr = self.sel_expr()
        alias = None
        if self.accept_kw("as"):
            alias = self.ident()
        return _to_selector(expr, alias)

    # selector expressions: additive > multiplicative > unary > primary postfix*

    def sel_expr(self) -> ast.SelExpr:
        left = self.sel_mul()
        while True:
            t = self.peek()
            if t.kind == "OP" and t.text in ("+", "-"):
                self.pos += 1
                right = self.sel_mul()
                left = ast.SelExpr("op", t.text, (left, right), f"{left.text} {t.text} "
                                                                  f"{right.text}")
            elif t.kind in ("INTEGER", "FLOAT", "DURATION") and t.text.startswith("-"):
                # 'x -1' lexes as x, -1: a subtraction
                self.pos += 1
                body = t.text[1:]
                right = ast.SelExpr("term", ast.Const(t.kind, body, t.value[1:]), None, body)
                left = ast.SelExpr("op", "-", (left, right), f"{left.text} - {body}")
            else:
                return left

    def sel_mul(self) -> ast.SelExpr:
        left = self.sel_unary()
        while self.at_op("*", "/", "%"):
            op = self.next().text
            right = self.sel_unary()
            left = ast.SelExpr("op", op, (left, right), f"{left.text} {op} {right.text}")
        return left

    def sel_unary(self) -> ast.SelExpr:
        t = self.peek()
        if t.kind == "OP" and t.text == "-" and self.peek(1).kind not in ("INTEGER", "FLOAT"):
            self.pos += 1
            inner = self.sel_unary()
            return ast.SelExpr("neg", inner, None, f"-{inner.text}")
        return self.sel_postfix(self.sel_primary())

    def sel_postfix(self, e: ast.SelExpr) -> ast.SelExpr:
        while True:
            if self.accept_op("."):
                f = self.any_ident()
                e = ast.SelExpr("field", e, f, f"{e.text}.{f}")
            elif self.accept_op("["):
                lo = hi = None
                if self.at_op(".") and self.peek(1).text == ".":
                    self.pos += 2
                    if not self.at_op("]"):
                        hi = self.term()
                    self.expect_op("]")
                    e = ast.SelExpr("slice", e, (None, hi), f"{e.text}[..{_term_text(hi)}]")
                    continue
                lo = self.term()
                if self.at_op(".") and self.peek(1).text == ".":
                    self.pos += 2
                    if not self.at_op("]"):
                        hi = self.term()
                    self.expect_op("]")
                    e = ast.SelExpr("slice", e, (lo, hi),
                                    f"{e.text}[{_term_text(lo)}..{_term_text(hi)}]")
                    continue
                self.expect_op("]")
                e = ast.SelExpr("elem", e, lo, f"{e.text}[{_term_text(lo)}]")
            else:
                return e

    def sel_primary(self) -> ast.SelExpr:
        t = self.peek()
        if t.kind == "IDENT" and t.lower == "cast" and self.peek(1).text == "(":
            self.pos += 2
            arg = self.sel_expr()
            self.expect_kw("as")
            typ = self.type_expr()
            self.expect_op(")")
            return ast.SelExpr("cast", arg, typ, f"cast({arg.text} as {_type_text(typ)})")
        if t.kind == "IDENT" and self.peek(1).kind == "OP" and self.peek(1).text == "(" \
                and t.lower not in ("true", "false", "null"):
            fname = t.lower
            self.pos += 2
            if fname == "count" and self.accept_op("*"):
                self.expect_op(")")
                return ast.SelExpr("func", "count", (), "count", star=True)
            args: list[ast.SelExpr] = []
            if not self.accept_op(")"):
                args.append(self.sel_expr())
                while self.accept_op(","):
                    args.append(self.sel_expr())
                self.expect_op(")")
            inner = ", ".join(a.text for a in args)
            if fname == "count" and len(args) == 1 and args[0].kind == "term" and \
                    args[0].text == "1":
                return ast.SelExpr("func", "count", (), "count", star=True)
            if fname in ("writetime", "ttl"):
                text = f"{fname}({inner})"
            else:
                text = f"system.{fname}({inner})"
            return ast.SelExpr("func", fname, tuple(args), text)
        if t.kind == "OP" and t.text == "(":
            # a typed literal / cast (int) x, or a parenthesized expression
            if self.peek(1).kind == "IDENT" and self.peek(1).lower in _NATIVE_TYPES and \
                    self.peek(2).text == ")":
                self.pos += 1
                typ = self.type_expr()
                self.expect_op(")")
                inner = self.sel_unary()
                return ast.SelExpr("term", inner.a if inner.kind == "term" else inner, typ,
                                   f"({_type_text(typ)}){inner.text}")
            self.pos += 1
            e = self.sel_expr()
            self.expect_op(")")
            return e
        if t.kind in ("IDENT", "QIDENT") and not (
                t.kind == "IDENT" and t.lower in ("true", "false", "null", "nan", "infinity")):
            name = self.ident()
            return ast.SelExpr("col", name, None, _quote_ident(name))
        term = self.term()
        return ast.SelExpr("term", term, None, _term_text(term))


def _quote_ident(name: str) -> str:
    import re

    return name if re.fullmatch(r"[a-z][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


def _term_text(t: Any) -> str:
    if t is None:
        return ""
    if isinstance(t, ast.Const):
        if t.kind == "STRING":
            return "'" + str(t.value).replace("'", "''") + "'"
        return t.text
    if isinstance(t, ast.Marker):
        return "?" if t.name is None else f":{t.name}"
    return "?"


def _type_text(t: ast.TypeExpr) -> str:
    if t.name == "custom" or t.name.startswith("custom:"):
        return f"'{t.name[7:]}'"
    if not t.params:
        return t.name if t.keyspace is None else f"{t.keyspace}.{t.name}"
    return f"{t.name}<{', '.join(_type_text(p) for p in t.params)}>"


def _to_selector(e: ast.SelExpr, alias: str | None) -> ast.Selector:
    """The plain selector kinds the engine has fast paths for; anything else is 'expr'."""
    if e.kind == "col":
        return ast.Selector("column", e.a, alias, e.text)
    if e.kind == "func":
        args = e.b
        if e.a == "count" and e.star:
            return ast.Selector("count", None, alias, e.text)
        plain = all(a.kind == "col" for a in args)
        if e.a == "count" and len(args) == 1 and plain:
            return ast.Selector("count", args[0].a, alias, e.text)
        if e.a in ("writetime", "ttl") and len(args) == 1 and plain:
            return ast.Selector(e.a, args[0].a, alias, e.text)
        if e.a == "token" and args and plain:
            return ast.Selector("token", tuple(a.a for a in args), alias, e.text)
    return ast.Selector("expr", e, alias, e.text)
