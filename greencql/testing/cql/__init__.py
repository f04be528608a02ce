"""The simulator's CQL subset: tokenizer, syntax tree and parser (pure text, no schema)."""

from greencql.testing.cql.parser import parse, parse_type

__all__ = ["parse", "parse_type"]
