"""What happens to rows deleted at the source: `mirror` or `archive`."""

from __future__ import annotations

from airflow_audit_core.errors import UserError

MODES = ("mirror", "archive")
DEFAULT_MODE = "mirror"


def parse_mode(value: str | None) -> str:
    """AIRFLOW_AUDIT_MODE: `mirror` (default) or `archive`."""
    mode = (value or "").strip().lower() or DEFAULT_MODE
    if mode not in MODES:
        raise UserError(
            f"AIRFLOW_AUDIT_MODE is {value!r}: use 'mirror' (the warehouse equals the source) or "
            "'archive' (rows deleted at the source are kept and marked with _sdc_deleted_at)."
        )
    return mode
