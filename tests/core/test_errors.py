"""How a program ends: a problem the user can fix, or a stop, in one sentence (core errors)."""

from __future__ import annotations

import contextlib
import signal

import pytest

from airflow_audit_core.errors import (
    STOP_SIGNALS,
    Stopped,
    UserError,
    exit_on_user_error,
    raise_stopped,
)

STOPPED = "before it finished; nothing is lost."


@pytest.fixture(autouse=True)
def _handlers_restored():
    """exit_on_user_error installs the stop handlers in this process: pytest's are put back."""
    kept = {stop: signal.getsignal(stop) for stop in STOP_SIGNALS}
    yield
    for stop, handler in kept.items():
        signal.signal(stop, handler)


def ended(capsys, body) -> tuple[int, str]:
    cleaned = []
    cleanup = lambda: cleaned.append(1)  # noqa: E731
    with (
        pytest.raises(SystemExit) as exit_,
        exit_on_user_error("prog", cleanup=cleanup, stopped=STOPPED),
    ):
        body()
    assert cleaned == [1]
    return exit_.value.code, capsys.readouterr().err


def stop_where_the_program_is() -> None:
    raise Stopped(signal.SIGTERM)


def stop_inside_a_driver() -> None:
    """What DuckDB does when the signal's handler raises during a query: its own error, raised
    while handling the Stopped ("RuntimeError: Query interrupted")."""
    try:
        stop_where_the_program_is()
    except Stopped:
        raise RuntimeError("Query interrupted") from None


def stop_that_a_driver_swallowed() -> None:
    """What DuckDB under fakesnow's Snowflake connector does: the handler runs inside the query
    and its Stopped is gone; the driver's own error reaches the program without it."""
    with contextlib.suppress(Stopped):
        raise_stopped(signal.SIGTERM)
    raise RuntimeError("Query interrupted")


def stop_that_a_loader_wrapped() -> None:
    try:
        stop_inside_a_driver()
    except RuntimeError as exc:
        raise UserError("DuckDB refused the batch: rerun the sync.") from exc


@pytest.mark.parametrize(
    "body",
    [
        stop_where_the_program_is,
        stop_inside_a_driver,
        stop_that_a_driver_swallowed,
        stop_that_a_loader_wrapped,
    ],
)
def test_a_stop_ends_in_one_sentence_wherever_it_landed(capsys, body):
    assert ended(capsys, body) == (128 + signal.SIGTERM, f"prog: stopped by SIGTERM {STOPPED}\n")


def test_a_user_error_is_one_sentence_and_exit_2(capsys):
    def body():
        raise UserError("The slug 'x y' cannot make a schema name.")

    assert ended(capsys, body) == (2, "prog: The slug 'x y' cannot make a schema name.\n")


def test_any_other_error_is_not_taken_for_a_stop():
    with (
        pytest.raises(RuntimeError, match="Query interrupted"),
        exit_on_user_error("prog", stopped=STOPPED),
    ):
        raise RuntimeError("Query interrupted")
