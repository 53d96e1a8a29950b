"""Shared pytest set-up.  The project's own packages are installed editable in .venv
(`make install`), so tests import them as any user would."""
