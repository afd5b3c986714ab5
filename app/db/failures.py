"""What a driver or pool exception means: the one table of failures trackr reacts to.

Routing (retry, move on, feed the breaker), the replica monitor, the engines' disconnect hook
and the problem handlers (503 or 500) all ask `classify`.
"""

from __future__ import annotations

from enum import StrEnum

import asyncpg
from sqlalchemy.exc import DBAPIError, EmulatedDBAPIException
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


class Failure(StrEnum):
    BROKEN_CONNECTION = "broken connection"  # an established connection died: retry on a new one
    ROLE_CHANGE = "role change"  # the node is no longer what we took it for (a demoted primary)
    CANNOT_CONNECT = "cannot connect"  # no session could be opened: evidence the node is down
    TRANSIENT = "transient"  # the server is briefly unable (resources, timeout, conflict)
    BUG = "bug"  # anything else: not the database's state, so never retried or hidden


# Every exception type a database call can raise for reasons other than our own code.
DRIVER_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    EmulatedDBAPIException,  # a failed connect from the pool (e.g. "shutting down")
    OSError,  # refused, reset, timed out (asyncio's TimeoutError is an OSError)
    PoolTimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.TargetServerAttributeNotMatched,  # no listed host accepts writes
)

# SQLSTATE → kind; a code not listed here falls back to its class (first two characters).
SQLSTATES: dict[str, Failure] = {
    "57P03": Failure.CANNOT_CONNECT,  # cannot connect now: starting up or shutting down
    "53300": Failure.CANNOT_CONNECT,  # too many connections
    "08001": Failure.CANNOT_CONNECT,  # the client could not establish a connection
    "08004": Failure.CANNOT_CONNECT,  # the server rejected the connection
    "57P01": Failure.BROKEN_CONNECTION,  # admin shutdown: our session was terminated
    "57P02": Failure.BROKEN_CONNECTION,  # crash shutdown
    "25006": Failure.ROLE_CHANGE,  # read-only transaction: the primary was demoted
    "40001": Failure.TRANSIENT,  # serialization failure
    "40P01": Failure.TRANSIENT,  # deadlock detected
}
SQLSTATE_CLASSES: dict[str, Failure] = {
    "08": Failure.BROKEN_CONNECTION,  # connection exception
    "53": Failure.TRANSIENT,  # insufficient resources
    "57": Failure.TRANSIENT,  # operator intervention (statement timeout, cancel)
}
# Failures of an established connection after which it, and every one opened before it, is
# suspect. A failed connect leaves nothing to drop: flagging it too cost 0.3-0.4 s of writes
# after a Patroni switchover (tests/ha), as each connect that met the old leader made the
# pool recycle connections already opened to the new one.
DISCONNECTS = frozenset({Failure.BROKEN_CONNECTION, Failure.ROLE_CHANGE})


def driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrappers (asyncpg's, or an OSError).

    A failed connect from the pool (`raw_connection`) raises SQLAlchemy's emulated DB-API
    error unwrapped, not a DBAPIError: e.g. 57P03 from a node that is shutting down.
    """
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, EmulatedDBAPIException):
        return exc.__cause__ or exc
    return exc


def sqlstate(exc: BaseException | None) -> str:
    return str(getattr(exc, "sqlstate", "") or "")


def _is_broken(driver: BaseException) -> bool:
    """The driver found a connection unusable before the server said anything.

    "connection is closed": its server side ended (SQLAlchemy's rule too). An internal
    client error ("cannot switch to state …; another operation is in progress"): the server
    killed the idle connection and its FATAL message was read but not yet the end of the
    stream, so the protocol is stuck mid-error. Both mean "discard it and retry".
    """
    if isinstance(driver, asyncpg.InterfaceError):
        return "connection is closed" in str(driver)
    return isinstance(driver, asyncpg.InternalClientError)


def classify(exc: BaseException) -> Failure:
    driver = driver_error(exc)
    if isinstance(driver, ConnectionResetError | BrokenPipeError):
        return Failure.BROKEN_CONNECTION  # an established connection died
    # Refused, unreachable, timed out, or no listed host accepts writes (an internal client
    # error by asyncpg's hierarchy, but raised by connect).
    if isinstance(driver, OSError | PoolTimeoutError | asyncpg.TargetServerAttributeNotMatched):
        return Failure.CANNOT_CONNECT
    if _is_broken(driver):
        return Failure.BROKEN_CONNECTION
    code = sqlstate(driver) or (sqlstate(exc.orig) if isinstance(exc, DBAPIError) else "")
    if kind := SQLSTATES.get(code) or SQLSTATE_CLASSES.get(code[:2]):
        return kind
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return Failure.BROKEN_CONNECTION
    return Failure.BUG


# What a failure is called where people read it (/health, 503 details, admin): never the
# driver's own text, which can name hosts, ports, users and paths. The logs keep that.
PHRASES: dict[Failure, str] = {
    Failure.BROKEN_CONNECTION: "disconnected",
    Failure.ROLE_CHANGE: "no longer accepting writes",
    Failure.CANNOT_CONNECT: "unreachable",
    Failure.TRANSIENT: "temporarily unable to serve",
    Failure.BUG: "failing",
}


def describe(exc: BaseException) -> str:
    """What happened to a node, in words fit for a response: "unreachable", "disconnected"."""
    if isinstance(driver_error(exc), TimeoutError):
        return "not answering in time"
    return PHRASES[classify(exc)]


def is_transient(exc: BaseException) -> bool:
    """The database is briefly unable (retry elsewhere, or answer 503), not a bug."""
    return classify(exc) is not Failure.BUG


def is_connect_failure(exc: BaseException) -> bool:
    """Could not reach a node at all; only this is evidence that the primary is down."""
    return classify(exc) is Failure.CANNOT_CONNECT
