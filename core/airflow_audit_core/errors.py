"""Errors a user can cause and fix: printed as one sentence, never as a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class UserError(Exception):
    """A problem with the input or configuration, explained in one sentence."""


@contextmanager
def exit_on_user_error(
    prog: str,
    *,
    cleanup: Callable[[], None] | None = None,
    on_error: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Print a UserError as `<prog>: <sentence>`, run `on_error`, and exit 2; run `cleanup`
    either way."""
    try:
        yield
    except UserError as exc:
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
        if on_error is not None:
            on_error()
        sys.exit(2)
    finally:
        if cleanup is not None:
            cleanup()
