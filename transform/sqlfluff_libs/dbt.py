"""Stand-ins for dbt's cross-database macros (`dbt.datediff(...)` ...) so sqlfluff's jinja templater can
render the models without dbt.  Each returns plausible, portable SQL of the same shape as the real macro;
the linter checks the models' own SQL, not what these expand to."""

from __future__ import annotations


def type_string() -> str:
    return "varchar"


def type_bigint() -> str:
    return "bigint"


def type_int() -> str:
    return "integer"


def type_numeric() -> str:
    return "numeric(28, 6)"


def type_float() -> str:
    return "double precision"


def type_boolean() -> str:
    return "boolean"


def type_timestamp() -> str:
    return "timestamp"


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    return f"datediff({datepart}, {first_date}, {second_date})"


def dateadd(datepart: str, interval: str, from_date_or_timestamp: str) -> str:
    return f"dateadd({datepart}, {interval}, {from_date_or_timestamp})"


def date_trunc(datepart: str, date: str) -> str:
    return f"date_trunc('{datepart}', {date})"


def concat(fields: list[str]) -> str:
    return "concat(" + ", ".join(fields) + ")"


def hash(field: str) -> str:  # shadows the builtin on purpose: the name of dbt's macro
    return f"md5(cast({field} as varchar))"


def replace(field: str, old_chars: str, new_chars: str) -> str:
    return f"replace({field}, {old_chars}, {new_chars})"


def listagg(
    measure: str,
    delimiter_text: str = "','",
    order_by_clause: str | None = None,
    limit_num: int | None = None,
) -> str:
    # The real macro adds the warehouse's ordering syntax (`within group (...)`, `order by` inside the
    # call ...), which ANSI SQL cannot parse: the stand-in leaves it out.
    return f"listagg({measure}, {delimiter_text})"


def safe_cast(field: str, type_: str) -> str:
    return f"cast({field} as {type_})"


def cast(field: str, type_: str) -> str:
    return f"cast({field} as {type_})"


def current_timestamp() -> str:
    return "current_timestamp"


def split_part(string_text: str, delimiter_text: str, part_number: int) -> str:
    return f"split_part({string_text}, {delimiter_text}, {part_number})"


def position(substring_text: str, string_text: str) -> str:
    return f"position({substring_text} in {string_text})"


def length(expression: str) -> str:
    return f"length({expression})"
