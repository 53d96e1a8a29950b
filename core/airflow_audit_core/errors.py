"""Errors a user can cause and fix, and stops a user or Airflow asks for: printed as one
sentence, never as a traceback."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Airflow stops a task that timed out or was marked failed by SIGTERM; a terminal by SIGINT.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class UserError(Exception):
    """A problem with the input or configuration, explained in one sentence."""


class Stopped(BaseException):
    """A stop signal arrived (STOP_SIGNALS); a BaseException, as KeyboardInterrupt is, so that no
    handler of ordinary errors takes it for one."""


# The stop signals raise_stopped took in this process, since exit_on_user_error began.
_received: list[int] = []


def raise_stopped(signum: int, _frame: object = None) -> None:
    """The handler of STOP_SIGNALS: raises Stopped where the program is (once: the clean-up
    that follows runs to its end)."""
    for stop in STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)
    _received.append(signum)
    raise Stopped(signum)


def stopped_by(exc: BaseException | None) -> Stopped | None:
    """The Stopped an exception is, or was raised while handling; once a stop arrived, any
    error.  A driver that checks for signals in a long call runs the handler there and raises
    its own error instead, from the Stopped (DuckDB's "Query interrupted") or, through another
    layer, without it (DuckDB under fakesnow's Snowflake connector): either way the program was
    stopped, and what it raised on the way out is the stop's doing."""
    if exc is None:
        return None
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 20:
        if isinstance(cause, Stopped):
            return cause
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return Stopped(_received[0]) if _received else None


@contextmanager
def exit_on_user_error(
    prog: str,
    *,
    cleanup: Callable[[], None] | None = None,
    on_error: Callable[[], None] | None = None,
    stopped: str | None = None,
) -> Iterator[None]:
    """Print a UserError as `<prog>: <sentence>`, run `on_error`, and exit 2; run `cleanup`
    either way.  With `stopped` (what a stop leaves behind, ending the sentence), SIGTERM and
    SIGINT raise Stopped where the program is, and end as `<prog>: stopped by SIGTERM <stopped>`
    and exit code 128 + the signal's number, after the clean-up."""
    if stopped is not None:
        _received.clear()
        for stop in STOP_SIGNALS:
            signal.signal(stop, raise_stopped)
    try:
        yield
    except BaseException as exc:
        stop = stopped_by(exc) if stopped is not None else None
        if stop is not None:
            signum = stop.args[0]
            print(
                f"{prog}: stopped by {signal.Signals(signum).name} {stopped}",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(128 + signum)
        if not isinstance(exc, UserError):
            raise
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
        if on_error is not None:
            on_error()
        sys.exit(2)
    finally:
        if cleanup is not None:
            cleanup()
