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

# Words that cannot be used as unquoted identifiers (subset of Cassandra's reserved words).
_RESERVED = frozenset(
    """add allow alter and apply asc authorize batch begin by columnfamily create delete desc
    describe drop entries execute from full grant if in index infinity insert into keyspace
    limit modify nan norecursive not null of on or order primary rename revoke schema select
    set table to token truncate unlogged update use using where with""".split()
)
_STATEMENT_STARTS = ("select", "insert", "update", "delete", "begin", "use", "create", "alter",
                     "drop", "truncate")
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
        self.accept_op(";")
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
            nxt = self.peek(1)
            if t.text == "-" and nxt.kind == "IDENT" and nxt.lower in ("nan", "infinity"):
                # Cassandra's grammar: '-' (K_NAN | K_INFINITY), as drivers render -inf
                self.pos += 2
                return ast.Const("FLOAT", "-" + nxt.text, "-" + nxt.lower)
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
        if t.kind == "IDENT" and t.lower in (
            "materialized", "function", "aggregate", "role", "user", "trigger", "or"
        ):
            raise SyntaxException(
                f"line {t.line}:{t.col} CREATE {t.text.upper()} is not supported by the "
                "simulated cluster"
            )
        return self.fail(t)

    def create_table(self) -> ast.CreateTable:
        ine = self.if_not_exists()
        table = self.qualified()
        self.expect_op("(")
        columns: list[ast.ColumnDefAst] = []
        pk: list[str] = []
        clustering: list[str] = []
        while True:
            if self.at_kw("primary") and self.peek(1).lower == "key":
                self.pos += 2
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
            compact,
        )

    def alter(self) -> ast.Statement:
        self.expect_kw("alter")
        if self.accept_kw("keyspace") or self.accept_kw("schema"):
            ie = self.if_exists()
            name = self.ident()
            self.expect_kw("with")
            return ast.AlterKeyspace(name, ie, self.options())
        if self.accept_kw("table") or self.accept_kw("columnfamily"):
            ie = self.if_exists()
            table = self.qualified()
            if self.accept_kw("add"):
                self.if_not_exists()
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
            if self.accept_kw("drop"):
                self.if_exists()
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
        return self.fail(self.peek())

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
            self.accept_kw("default", "null") or self.accept_kw("default", "unset")
            ine = self.if_not_exists()
            ttl, ts = self.using()
            return ast.Insert(table, (), (), ine, ttl, ts, json=value)
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
                if self.accept_op("["):
                    key = self.term()
                    self.expect_op("]")
                targets.append(ast.DeleteTarget(col, key))
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
        _ttl, ts = self.using(allow_ttl=False)
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
        return ast.Batch(kind, tuple(stmts), ts)

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
        i0 = self.pos
        t = self.peek()
        sel: ast.Selector
        if t.kind == "IDENT" and self.peek(1).kind == "OP" and self.peek(1).text == "(":
            fname = t.lower
            self.pos += 2
            if fname == "count":
                if self.accept_op("*"):
                    pass
                else:
                    a = self.next()
                    if not (a.kind == "INTEGER" or a.kind in ("IDENT", "QIDENT")):
                        self.fail(a)
                self.expect_op(")")
                sel = ast.Selector("count", None)
            elif fname in ("writetime", "ttl"):
                col = self.ident()
                self.expect_op(")")
                sel = ast.Selector(fname, col)
            elif fname == "token":
                cols = [self.ident()]
                while self.accept_op(","):
                    cols.append(self.ident())
                self.expect_op(")")
                sel = ast.Selector("token", tuple(cols))
            else:
                args: list[Any] = []
                if not self.accept_op(")"):
                    args.append(self.selector_arg())
                    while self.accept_op(","):
                        args.append(self.selector_arg())
                    self.expect_op(")")
                sel = ast.Selector("func", (fname, tuple(args)))
        else:
            sel = ast.Selector("column", self.ident())
        end = self.pos
        text = "".join(
            tok.text if tok.kind != "IDENT" else tok.lower
            for tok in self.toks[i0:end]
        )
        alias = None
        if self.accept_kw("as"):
            alias = self.ident()
        return ast.Selector(sel.kind, sel.arg, alias, text)

    def selector_arg(self) -> Any:
        t = self.peek()
        if t.kind in ("IDENT", "QIDENT") and not (
            self.peek(1).kind == "OP" and self.peek(1).text == "("
        ) and t.lower not in ("true", "false", "null"):
            return ("column", self.ident())
        if t.kind == "IDENT" and self.peek(1).text == "(":
            inner = self.selector()
            return ("selector", inner)
        return ("term", self.term())
