"""The failure table: each driver or pool exception class maps to the kind trackr acts on.

Real processes produce these in tests/test_db_errors.py and tests/faults; this pins the table.
"""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.db.failures import DISCONNECTS, Failure, classify, is_connect_failure, is_transient

E = asyncpg.exceptions


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectionRefusedError(), Failure.CANNOT_CONNECT),
        (TimeoutError(), Failure.CANNOT_CONNECT),
        (PoolTimeoutError(), Failure.CANNOT_CONNECT),
        (E.TargetServerAttributeNotMatched("no writer"), Failure.CANNOT_CONNECT),
        (E.CannotConnectNowError("shutting down"), Failure.CANNOT_CONNECT),
        (E.TooManyConnectionsError("full"), Failure.CANNOT_CONNECT),
        (ConnectionResetError(), Failure.BROKEN_CONNECTION),
        (BrokenPipeError(), Failure.BROKEN_CONNECTION),
        (E.ConnectionDoesNotExistError("connection was closed"), Failure.BROKEN_CONNECTION),
        (asyncpg.InterfaceError("connection is closed"), Failure.BROKEN_CONNECTION),
        (E.InternalClientError("cannot switch to state 15"), Failure.BROKEN_CONNECTION),
        (E.AdminShutdownError("terminating"), Failure.BROKEN_CONNECTION),
        (E.ReadOnlySQLTransactionError("read-only"), Failure.ROLE_CHANGE),
        (E.QueryCanceledError("statement timeout"), Failure.TRANSIENT),
        (E.SerializationError("retry"), Failure.TRANSIENT),
        (E.DeadlockDetectedError("deadlock"), Failure.TRANSIENT),
        (E.DiskFullError("disk full"), Failure.TRANSIENT),
        (E.UndefinedTableError("no such table"), Failure.BUG),
        (E.UniqueViolationError("duplicate"), Failure.BUG),
        (asyncpg.InterfaceError("another operation is in progress"), Failure.BUG),
        (ValueError("ours"), Failure.BUG),
    ],
)
def test_each_exception_has_its_kind(error: BaseException, kind: Failure) -> None:
    assert classify(error) is kind
    assert is_transient(error) is (kind is not Failure.BUG)
    assert is_connect_failure(error) is (kind is Failure.CANNOT_CONNECT)


def test_sqlalchemys_wrappers_are_seen_through() -> None:
    wrapped = DBAPIError("SELECT 1", None, E.ReadOnlySQLTransactionError("read-only"))
    assert classify(wrapped) is Failure.ROLE_CHANGE
    invalidated = DBAPIError("SELECT 1", None, Exception("gone"), connection_invalidated=True)
    assert classify(invalidated) is Failure.BROKEN_CONNECTION


def test_only_a_failed_established_connection_makes_the_pool_recycle() -> None:
    assert {Failure.BROKEN_CONNECTION, Failure.ROLE_CHANGE} == DISCONNECTS
