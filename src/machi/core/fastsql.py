"""Plain INSERTs for the few rows written on the hottest paths (check-ins, the audit log).

Building a query through the ORM costs about half a millisecond on the machines Machi runs on,
several times what the database needs to store the row. These helpers write a model instance
with one prepared statement, converting each value exactly as the ORM would
(``Field.get_db_prep_save``), so the rows are indistinguishable from ``Model.save()``'s.
They skip ``save()`` overrides and signals (Machi has none), and work on SQLite and PostgreSQL.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from django.db import connections, models, router

M = TypeVar("M", bound=models.Model)


@cache
def _plan(model: type[models.Model], with_pk: bool, vendor: str) -> tuple[str, list[Any]]:
    meta = model._meta
    fields = [f for f in meta.concrete_fields if with_pk or not f.primary_key]
    quote = connections[router.db_for_write(model)].ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    # Names come from the model, values are parameters: nothing from outside is formatted in.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    if not with_pk:
        sql += f" RETURNING {quote(meta.pk.column)}"
    return sql, fields


def insert(obj: M) -> M:
    """INSERT ``obj``; an auto primary key is read back into it (RETURNING)."""
    model = type(obj)
    alias = router.db_for_write(model)
    connection = connections[alias]
    with_pk = obj.pk is not None
    sql, fields = _plan(model, with_pk, connection.vendor)
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        if not with_pk:
            obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = alias
    return obj


def row(obj: models.Model) -> tuple[str, str, list[str], list[Any]]:
    """The pieces of ``obj``'s INSERT for a caller composing its own statement (PostgreSQL).

    Returns the quoted table, the quoted column list, one typed placeholder per column
    (``%s::uuid``: in ``INSERT … SELECT`` a bare parameter would arrive as text) and the values,
    converted as the ORM would. The primary key must already be set or be left to the database.
    """
    model = type(obj)
    alias = router.db_for_write(model)
    connection = connections[alias]
    with_pk = obj.pk is not None
    _sql, fields = _plan(model, with_pk, connection.vendor)
    table, columns, marks = _typed_plan(model, with_pk, alias)
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    return table, columns, marks, values


@cache
def _typed_plan(model: type[models.Model], with_pk: bool, alias: str) -> tuple[str, str, list[str]]:
    connection = connections[alias]
    _sql, fields = _plan(model, with_pk, connection.vendor)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    # varchar(16) → varchar: the column's own length check still applies on insert.
    marks = [f"%s::{(f.cast_db_type(connection) or 'text').split('(')[0].strip()}" for f in fields]
    return quote(model._meta.db_table), columns, marks
