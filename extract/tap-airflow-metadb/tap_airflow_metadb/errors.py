"""Errors a user can cause and fix: printed as one sentence, never as a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the input or configuration, explained in one sentence."""
