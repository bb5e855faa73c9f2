"""Declarative base, naming convention and shared column helpers (no Flask here)."""

from datetime import UTC, datetime

from sqlalchemy import DDL, Index, MetaData, event
from sqlalchemy.orm import DeclarativeBase

# Named constraints so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# PostgreSQL's trigram extension, for the indexes below; created with the schema (and by migration 0002).
event.listen(Base.metadata, "before_create", DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))


def trigram_indexes(table: str, *columns: str) -> list[Index]:
    """GIN trigram indexes, PostgreSQL only, so that `column LIKE '%part%'` is answered by an index."""
    return [
        Index(f"ix_{table}_{column}_trgm", column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"})
        .ddl_if(dialect="postgresql")
        for column in columns
    ]


def exists_on(dialect_name: str):
    """Alembic's `include_object`: leave out what `ddl_if` keeps off this backend (the trigram indexes
    on SQLite), so that autogenerate and the migration test compare like with like."""

    def include(obj, name, type_, reflected, compare_to) -> bool:
        condition = getattr(obj, "_ddl_if", None)  # set by SchemaItem.ddl_if()
        return condition is None or condition.dialect in (None, dialect_name)

    return include
