"""Masking what can carry a secret in the columns that are kept: free text, JSON, the action log.

Three kinds of column pass through here (policy.REDACTED_COLUMNS says which is which):

* free text (`import_error.stacktrace`, `connection.host`, notes, descriptions, URIs): URL
  credentials (`scheme://user:secret@host`), `key=value` / `"key": "value"` pairs whose key names a
  secret, `Bearer` tokens and well-known token shapes are replaced by `***`; the rest stays.
* JSON documents a user fills (asset URIs' extras are dropped instead): the same, key by key.
* `log.extra`, Airflow's action log: parsed, and only what an audit needs is kept (see
  `sanitise_log_extra`).

The mask is Airflow's own, `***`.  Everything here is a pure function of its input, so the same
value is masked the same way on every sync and joins on a masked value still work.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

MASK = "***"

# Key names that say "the value is a secret": Airflow's secrets masker's defaults and the names the
# CLI, the UI and the REST API use for credentials.
_SECRET_WORD = (
    r"passw(?:or)?d|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"auth(?:orization)?|credential|passphrase|keyfile|service[_-]?account|session|cookie|"
    r"signature|conn[_-]?(?:uri|extra|json)|dsn|sas"
)
_SECRET_KEY = re.compile(rf"(?:{_SECRET_WORD})", re.IGNORECASE)

# scheme://userinfo@host -> scheme://user:***@host (or ***@host when the userinfo is one token,
# as in https://<token>@github.com).
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s/@:'\"\]\[]*)(?::(?P<pw>[^\s/@'\"]*))?@"
)
# key=value, key: value, "key": "value", 'key': 'value' with a secret-looking key.
_KEY_VALUE = re.compile(
    rf"(?P<key>[\"']?[A-Za-z0-9_.\-]*(?:{_SECRET_WORD})[A-Za-z0-9_.\-]*[\"']?\s*(?:=|:)\s*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|(?:(?:bearer|basic|token)\s+)?[^\s,;&'\"})\]]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(
    r"(?P<scheme>\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE
)
# Token shapes that are secrets wherever they appear.
_TOKEN_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"  # GitHub
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"  # JWT
    r"|\bsk-[A-Za-z0-9_\-]{20,}"  # API keys of the sk- family
    r"|\bAIza[0-9A-Za-z_\-]{30,}",  # Google API keys
    re.DOTALL,
)


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    if value[:1] in "\"'" and len(value) >= 2:
        return f"{match.group('key')}{value[0]}{MASK}{value[0]}"
    return f"{match.group('key')}{MASK}"


def _mask_userinfo(match: re.Match[str]) -> str:
    if match.group("pw") is not None:
        return f"{match.group('scheme')}{match.group('user')}:{MASK}@"
    if not match.group("user"):
        return match.group(0)
    return f"{match.group('scheme')}{MASK}@"


def redact_text(text: str) -> str:
    """Free text with URL credentials, secret key=value pairs and token shapes masked."""
    if not text:
        return text
    text = _TOKEN_SHAPES.sub(MASK, text)
    if "@" in text:
        text = _URL_USERINFO.sub(_mask_userinfo, text)
    text = _BEARER.sub(lambda m: f"{m.group('scheme')}{MASK}", text)
    # A pair's key holds a secret word: without one, skip the pairs' pattern, which backtracks
    # through every run of name characters (about 60 us for a host name; the action log's rows
    # hold a dozen such words).
    if _SECRET_KEY.search(text):
        text = _KEY_VALUE.sub(_mask_value, text)
    return text


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def redact_json(value: Any) -> Any:
    """A JSON document with every value under a secret-looking key masked, and its text redacted."""
    if isinstance(value, dict):
        return {
            k: (MASK if is_secret_key(k) and v not in (None, "") else redact_json(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_free_text_or_json(value: Any) -> Any:
    """The converter for REDACTED free-text columns: psycopg2 gives str for text, dict/list for json."""
    if isinstance(value, str):
        return redact_text(value)
    return redact_json(value)


# ---------------------------------------------------------------------------------------------
# The action log (`log.extra`)
# ---------------------------------------------------------------------------------------------

# Keys of log.extra whose values an audit needs and that name things rather than carry data:
# hosts, DAG/task/run identifiers, connection ids, types and hosts, variable keys, pools, users,
# roles, and the switches of UI/API actions.  Their string values still go through redact_text.
# Every other key keeps its name and loses its value (`***`), booleans and nulls excepted: a
# variable's `val`/`value`, a connection's `password`/`extra`/`extra__<type>__<field>`, a trigger's
# `conf`, a bulk request's `actions`, and whatever a future Airflow adds.
SAFE_EXTRA_KEYS: frozenset[str] = frozenset(
    {
        # who / where
        "host_name",
        "hostname",
        "origin",
        "redirect_url",
        "method",
        "user",
        "username",
        "user_id",
        "role",
        "roles",
        "email",
        "first_name",
        "last_name",
        "remote_addr",
        # what
        "dag_id",
        "dag_ids",
        "task_id",
        "task_ids",
        "run_id",
        "dag_run_id",
        "dag_run_ids",
        "execution_date",
        "logical_date",
        "map_index",
        "map_indexes",
        "try_number",
        "conn_id",
        "connection_id",
        "conn_type",
        "host",
        "schema",
        "login",
        "port",
        "description",
        "note",
        "key",
        "variable_key",
        "pool",
        "pool_name",
        "name",
        "slots",
        "include_deferred",
        "asset_id",
        "asset_uri",
        "uri",
        "dataset_uri",
        "backfill_id",
        "event_log_id",
        "xcom_key",
        "job_id",
        "fileloc",
        "file_token",
        "update_mask",
        # switches of clear / mark / trigger / pause / backfill actions
        "state",
        "new_state",
        "is_paused",
        "is_active",
        "only_failed",
        "only_running",
        "confirmed",
        "upstream",
        "downstream",
        "future",
        "past",
        "recursive",
        "dry_run",
        "include_upstream",
        "include_downstream",
        "include_future",
        "include_past",
        "include_subdags",
        "include_parentdag",
        "reset_dag_runs",
        "include_task_instances",
        "run_on_latest_version",
        "unpause",
        "run_backwards",
        "reprocess_behavior",
        "max_active_runs",
        "from_date",
        "to_date",
        "start_date",
        "end_date",
        "partition_key",
        "run_type",
        "action",
        "pk",
        "id",
        "ids",
        "limit",
        "offset",
        "order_by",
        "page_limit",
        "tags",
        "tag",
        "dag_id_pattern",
        "paused",
        "only_active",
        "success",
        "failed",
        "queued",
        "running",
        "skipped",
    }
)
# CLI options whose value is a secret, whatever the sub-command.
_SECRET_OPTIONS = frozenset(
    {
        "--conn-extra",
        "--conn-uri",
        "--conn-json",
        "--conn-password",
        "--password",
        "-p",
        "--conf",
        "-c",
        "--task-params",
        "-t",
        "--value",
        "--extra",
        "--token",
        "--secret",
        "--api-key",
        "--private-key",
        "--passphrase",
    }
)
# Sub-commands whose positional values after the first (the key) are secrets.
_SECRET_POSITIONALS = {("variables", "set"): 1, ("config", "set"): 2}


def _cli_words(command: str) -> list[str] | None:
    """Airflow stores `full_command` as str(sys.argv): a Python list literal."""
    try:
        words = ast.literal_eval(command)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(words, (list, tuple)) and all(isinstance(w, str) for w in words):
        return list(words)
    return None


def _looks_structured(word: str) -> bool:
    stripped = word.strip()
    return stripped[:1] in "{[" or "://" in stripped


def mask_cli_words(words: list[str]) -> list[str]:
    """argv with the values of secret options and positionals masked (the command stays)."""
    out: list[str] = []
    commands: list[str] = []
    positionals = 0
    mask_next = False
    options_seen = False
    for index, word in enumerate(words):
        if index == 0:
            out.append(word)
            continue
        if mask_next:
            mask_next = False
            out.append(MASK if not word.startswith("--") else word)
            if not word.startswith("--"):
                continue
        if word.startswith("-") and len(word) > 1:
            options_seen = True
            name, eq, value = word.partition("=")
            secret = name in _SECRET_OPTIONS or is_secret_key(name.lstrip("-"))
            if eq:
                out.append(
                    f"{name}={MASK}"
                    if secret or _looks_structured(value)
                    else f"{name}={redact_text(value)}"
                )
            else:
                out.append(word)
                mask_next = secret
            continue
        if not options_seen and len(commands) < 2 and re.fullmatch(r"[a-z][a-z0-9\-_]*", word):
            commands.append(word)
            out.append(word)
            continue
        # a positional value
        limit = _SECRET_POSITIONALS.get(tuple(commands[:2]))  # type: ignore[arg-type]
        if (limit is not None and positionals >= limit) or _looks_structured(word):
            out.append(MASK if not word.startswith(("/", "./")) or "://" in word else word)
        else:
            out.append(redact_text(word))
        positionals += 1
    return out


def mask_cli_command(command: str) -> str:
    """`full_command` as Airflow wrote it, with every secret value masked."""
    words = _cli_words(command)
    if words is None:
        return redact_text(command)
    return str(mask_cli_words(words))


def _is_plain(value: Any) -> bool:
    """A scalar, or lists of scalars (`task_ids: [["extract", -1]]`), never a mapping."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    return False


def _redact_plain(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (list, tuple)):
        return [_redact_plain(v) for v in value]
    return value


def _safe_value(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if key == "full_command" and isinstance(value, str):
        return mask_cli_command(value)
    if key in SAFE_EXTRA_KEYS and _is_plain(value):
        if key in ("origin", "redirect_url") and isinstance(value, str) and "?" in value:
            # the page the action came from: its query string can carry a form's values
            return redact_text(value.split("?", 1)[0]) + "?" + MASK
        return _redact_plain(value)
    return MASK


def _sanitise_mapping(items: dict[Any, Any]) -> dict[str, Any]:
    return {str(k): _safe_value(str(k), v) for k, v in items.items()}


def _sanitise_pairs(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            out.append([item[0], _safe_value(item[0], item[1])])
        elif isinstance(item, dict):
            out.append(_sanitise_mapping(item))
        else:
            out.append(None if item is None else MASK)
    return out


def _parse_extra(extra: str) -> Any:
    """JSON (the CLI, 2.9+ and 3.x), or the Python list literal the 2.4-2.8 web UI wrote."""
    try:
        return json.loads(extra)
    except (ValueError, RecursionError):
        pass
    if extra.lstrip()[:1] in "[{(":
        try:
            return ast.literal_eval(extra)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return None
    return None


def sanitise_log_extra(extra: str | None) -> str | None:
    """`log.extra` as it may leave: what an audit needs, every value that can carry a secret masked.

    Airflow writes it in several shapes (docs/secrets.md lists them by release):
    * the CLI: `{"host_name": ..., "full_command": "['airflow', 'connections', 'add', ...]"}`,
      argv as a Python list literal: options and positionals that carry secrets are masked;
    * the 2.4-2.8 web UI (and 2.5-2.8 REST API): a Python list literal of (name, value) pairs,
      which leaves as a JSON list of [name, value] pairs;
    * the 2.9+ web UI and REST API and the 3.x API server: a JSON object of the request's fields;
    * plain text from the scheduler ("Task was in queued state ...").
    Keys are kept; only the values of SAFE_EXTRA_KEYS (redacted as free text), booleans and nulls
    survive.  Text that is neither JSON nor a Python literal is redacted as free text.
    """
    if extra is None or extra == "":
        return extra
    parsed = _parse_extra(extra)
    if isinstance(parsed, dict):
        return json.dumps(_sanitise_mapping(parsed))
    if isinstance(parsed, (list, tuple)):
        return json.dumps(_sanitise_pairs(list(parsed)))
    if isinstance(parsed, str):
        return json.dumps(redact_text(parsed))
    if parsed is None:
        return extra if extra.strip() == "null" else redact_text(extra)
    if isinstance(parsed, bool):
        return extra
    return json.dumps(MASK)
