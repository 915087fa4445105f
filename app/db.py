"""Database: the declarative base, the engine, and one session (one transaction) per request.

The request boundary commits when the response status is below 400 and rolls back otherwise;
services add and flush, never commit. CLI commands and workers open their own `db.transaction()`.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Iterator

import sqlalchemy as sa
from flask import Flask, current_app, g, has_app_context, has_request_context, request
from sqlalchemy import MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase, Mapped, Session, make_transient_to_detached, mapped_column, sessionmaker,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both engines (SQLite keeps no zone of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return _as_utc(value)

    def result_processor(self, dialect, coltype):
        if dialect.name == "postgresql":
            # Aware values only: one call per value rather than TypeDecorator's two (lists of
            # licenses carry hundreds).
            return _as_utc
        return super().result_processor(dialect, coltype)


def _as_utc(value: datetime | None) -> datetime | None:
    # PostgreSQL answers in the session's TimeZone setting: same instant, shown in UTC.
    return value.astimezone(timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: sa.Uuid()}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


@dataclass
class Page:
    """One page of a list endpoint: the items, and the total the query matches."""

    items: list
    total: int
    offset: int
    limit: int


def paginate(session: Session, query: sa.Select, offset: int, limit: int) -> Page:
    total = session.scalar(sa.select(sa.func.count()).select_from(
        query.order_by(None).subquery()))
    items = session.scalars(query.offset(offset).limit(limit)).all()
    return Page(list(items), total or 0, offset, limit)


def flush_unique(session: Session, row: object, error: Exception,
                 changes: dict | None = None) -> None:
    """Add `row`, apply `changes` to it and flush, all inside a savepoint: a unique constraint
    that refuses it (also when a concurrent request got there first) raises `error` here, a 4xx,
    instead of a 500 at commit. Changes go inside because begin_nested() flushes what is already
    pending before the savepoint starts."""
    try:
        with session.begin_nested():
            for name, value in (changes or {}).items():
                setattr(row, name, value)
            session.add(row)
            session.flush()
    except IntegrityError:
        raise error from None


def bound_row(columns: Iterable[sa.Column], prefix: str = "") -> dict[str, sa.BindParameter]:
    """A bound parameter for each column, by column name: named after it (`<prefix>_<name>`
    with a prefix) and typed as it. The values of a row that a prebuilt statement inserts, by
    INSERT ... SELECT or as one row of several (the prefix tells the rows apart)."""
    return {column.name: sa.bindparam(f"{prefix}_{column.name}" if prefix else column.name,
                                      type_=column.type)
            for column in columns}


def insert_for(bind: Session | str):
    """The dialect's `insert` (PostgreSQL or SQLite; a session or a dialect name), for ON
    CONFLICT clauses."""
    dialect = bind if isinstance(bind, str) else bind.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@functools.cache
def _columns(model: type) -> tuple[tuple[str, str], ...]:
    return tuple((attr.key, attr.columns[0].name) for attr in sa.inspect(model).column_attrs)


def column_values(row: object) -> dict:
    """A mapped object's column values, by column name: the parameters of a Core INSERT."""
    return {name: getattr(row, key) for key, name in _columns(type(row))}


def add_inserted(session: Session, *rows: object) -> None:
    """Put rows that were just INSERTed with Core statements (cheaper than the unit of work on
    hot paths) into the session as stored rows: no second INSERT, and their attributes and the
    relationships set on them count as loaded. Every column must have been set."""
    for row in rows:
        make_transient_to_detached(row)
    session.add_all(rows)


def _configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, WAL, and transactions that SQLAlchemy (not pysqlite) begins.

    pysqlite's own transaction handling breaks SAVEPOINT and BEGIN IMMEDIATE; the recipe from
    SQLAlchemy's SQLite dialect docs hands that job to the "begin" event.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection):
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_db_engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    # No pool_pre_ping: it costs a round trip on every request. A connection the server dropped
    # fails its first statement instead; SQLAlchemy then marks the error `connection_invalidated`
    # and replaces every pooled connection older than it, and that one request is answered 503
    # with Retry-After (app.errors). pool_recycle retires connections before idle timeouts
    # (proxies, firewalls) drop them.
    return sa.create_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _EngineState:
    def __init__(self, url: str) -> None:
        self.engine = create_db_engine(url)
        self.bind(self.engine)

    def bind(self, bind: Engine | Connection) -> None:
        self.factory = sessionmaker(bind=bind, expire_on_commit=False,
                                    join_transaction_mode="create_savepoint")
        read_bind = bind
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            # Requests that only read (db.read_only()) run each statement on its own: no BEGIN
            # and COMMIT round trips around a lookup.
            read_bind = bind.execution_options(isolation_level="AUTOCOMMIT")
        self.read_factory = sessionmaker(bind=read_bind, expire_on_commit=False,
                                         join_transaction_mode="create_savepoint")
        # SQLite: a transaction that reads and then writes fails at once ("database is locked")
        # when another writer got in between. Requests that may write therefore take the write
        # lock up front (BEGIN IMMEDIATE) and queue on busy_timeout instead.
        if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
            bind = bind.execution_options(sqlite_begin="IMMEDIATE")
        self.write_factory = sessionmaker(bind=bind, expire_on_commit=False,
                                          join_transaction_mode="create_savepoint")


class Database:
    """The extension object: `db.session` is the request's (or CLI command's) session.

    Engines live on the app (`app.extensions`), so several apps (tests) can use one `db`.
    """

    def init_app(self, app: Flask) -> None:
        app.extensions["gatehouse.db"] = _EngineState(app.config["DATABASE_URL"])

        @app.after_request
        def _commit(response):
            session = g.pop("db_session", None)
            if session is not None:
                try:
                    if response.status_code < 400 or g.pop("db_keep_on_error", False):
                        session.commit()
                    else:
                        session.rollback()
                finally:
                    session.close()
            return response

        @app.teardown_appcontext
        def _close(_exc):
            # Reached with a session still open only when the request failed before
            # after_request (or outside a request): nothing of it is kept.
            session = g.pop("db_session", None)
            if session is not None:
                session.rollback()
                session.close()

    @staticmethod
    def _state() -> _EngineState:
        if not has_app_context():
            raise RuntimeError("the database is only available inside an app context")
        return current_app.extensions["gatehouse.db"]

    @property
    def engine(self) -> Engine:
        return self._state().engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def session(self) -> Session:
        session = g.get("db_session")
        if session is None:
            state = self._state()
            writes = has_request_context() and request.method not in SAFE_METHODS
            session = g.db_session = (state.write_factory if writes else state.factory)()
        return session

    @staticmethod
    def read_only() -> None:
        """This request only reads, and needs no snapshot across its statements: on
        PostgreSQL each statement then runs on its own, without BEGIN and COMMIT (a lookup
        costs one round trip). Call it before the request's first query; on a request that
        has queried already, it changes nothing."""
        if "db_session" not in g:
            g.db_session = Database._state().read_factory()

    @staticmethod
    def keep_on_error() -> None:
        """Commit this request's changes even though its response will be an error: for
        changes that are the point of refusing (a revoked token family, a counted failed
        login). Same transaction, so no second connection waits on SQLite's write lock."""
        g.db_keep_on_error = True

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A session of its own, committed on success: for CLI commands, workers, caches."""
        state = self._state()
        with (state.write_factory if write else state.factory)() as session, session.begin():
            yield session

    @staticmethod
    def bind_to(app: Flask, connection: Connection | None) -> None:
        """Tests: run every session inside `connection`'s transaction (savepoints for commits)."""
        state: _EngineState = app.extensions["gatehouse.db"]
        state.bind(connection or state.engine)


db = Database()


def read_only_request(view):
    """Decorate a view whose request only reads: `db.read_only()` before anything queries,
    the bearer check of a user's token included."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        db.read_only()
        return view(*args, **kwargs)

    return wrapper
