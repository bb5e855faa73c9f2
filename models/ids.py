"""A list of ids as ONE bound parameter (`in_ids`), made once per selection (`IdList`).

A bulk action on 5,000 selected users would otherwise expand 5,000 parameters in Python for every
statement (and SQLite caps them per statement); its selection is sorted and serialised once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cached_property

from sqlalchemy import Boolean, ColumnElement, Integer, Text, any_, bindparam, cast, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator


class IdList(tuple[int, ...]):
    """Ids sorted and unique, as `in_ids` binds them. One bulk action binds its selection in several
    statements (its check, its UPDATE): made once, the list is neither sorted nor serialised again."""

    @classmethod
    def of(cls, ids: Iterable[int]) -> IdList:
        return ids if isinstance(ids, IdList) else cls(sorted(set(map(int, ids))))

    @cached_property
    def json(self) -> str:
        return json.dumps(self)

    @cached_property
    def array_literal(self) -> str:
        """PostgreSQL's text form of an INTEGER[] ("{1,2,3}"): psycopg adapts a Python list of ints element by
        element, this string is sent as is and cast by the server (docs/measurements.md)."""
        return "{" + ",".join(map(str, self)) + "}"


class _IdArray(TypeDecorator):
    """A list of ids bound as ONE text parameter: a JSON array on SQLite, an INTEGER[] literal on PostgreSQL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.array_literal if dialect.name == "postgresql" else value.json  # an IdList (`in_ids`)


class in_ids(ColumnElement[bool]):  # noqa: N801 (used like a function, as SQLAlchemy's own constructs)
    """`column IN (ids)` with the ids sent as one parameter, not one parameter each.

    A bulk action on 5,000 selected users would otherwise expand 5,000 parameters in Python for every
    statement, and SQLite caps them per statement. `= ANY(:ids)` on PostgreSQL, `IN (SELECT value FROM
    json_each(:ids))` on SQLite: both look each id up in the primary key.
    """

    type = Boolean()
    _is_implicitly_boolean = True  # a condition already: SQLite must not get `... = 1` (no index then)
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("ids", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[int], ids: Iterable[int]):
        self.column = column
        self.ids = bindparam(None, value=IdList.of(ids), type_=_IdArray(), unique=True)


@compiles(in_ids)
def _in_ids(element, compiler, **kw):
    values = func.json_each(element.ids).table_valued("value")
    return compiler.process(element.column.in_(select(values.c.value)), **kw)


@compiles(in_ids, "postgresql")
def _in_ids_postgresql(element, compiler, **kw):
    return compiler.process(element.column == any_(cast(element.ids, postgresql.ARRAY(Integer()))), **kw)


__all__ = ["IdList", "in_ids"]
