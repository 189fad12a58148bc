"""Line validation against the contract, as one set-based DuckDB query.

Input: a relation `lines(source_file, line_number, line, file_is_utf8)`; a line may end with its
newline (JSON allows the trailing whitespace; the rejects keep the line without it).
Output of `CHECKED_SQL`: every non-blank line with `reason` (NULL when accepted), the line itself
as `raw_line` when rejected, and the typed event fields. The first failing rule gives the
reason, in the order of the contract. Choices where the contract is silent (a byte-order mark at
the start of a line, duplicate keys, lowercase `t`/`z`, the timestamp range, wrong-typed
optional fields, non-finite numbers) are in docs/input-rules.md. No line can make the query
fail: every conversion is a `try_cast` or range-checked first.
"""

from __future__ import annotations

from ingest.vocabulary import (
    CONFIDENCE_RANGE,
    EVENT_TYPES,
    MAX_LEAD_HOURS,
    MIN_DURATION_MS,
    OPTIONAL_STRINGS,
    PAGE_EVENT_TYPE,
    RATING_RANGE,
    REQUIRED_STRINGS,
    START_ACTIONS,
    STATUS_CODE_RANGE,
    TIMESTAMP_FIELDS,
)

MAX_LEAD = f"INTERVAL {MAX_LEAD_HOURS} HOUR"  # occurred_at may be this much after received_at

# RFC 3339 date-time with a mandatory offset (a string without one is rejected): hours 00-23,
# minutes and seconds 00-59 (no leap second 60, no hour 24), offsets up to +-23:59; `T`/`Z` in
# either case, or a space for the `T`. Fractions beyond microseconds are truncated.
RFC3339 = (
    r"^\d{4}-\d{2}-\d{2}[Tt ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?"
    r"([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
# Accepted instants (UTC): years 0001 to 9999, what RFC 3339 and most tools can represent.
MIN_EPOCH_MS, MAX_EPOCH_MS = -62_135_596_800_000, 253_402_300_799_999
MIN_TIMESTAMP, MAX_TIMESTAMP = "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"
BOM = "\ufeff"  # a UTF-8 byte-order mark at the start of a line is ignored
# JSON's whitespace: a line of only these is ignored, a required string of only these is empty
BLANK = " \t\r\n"
INTEGER_TYPES = "('BIGINT', 'UBIGINT')"
NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE')"


# Every JSON path the rules read. Each line is parsed once, by one `json_extract` with the list
# of paths; each value's JSON type and text are then read off its JSON text (`_described`)
# instead of parsing again per rule: `_jtype` and `_jtext` refer to the resulting columns.
FIELD_PATHS = (
    *REQUIRED_STRINGS,
    "conversation_id",
    "channel",
    "page_url",
    *TIMESTAMP_FIELDS,
    "properties",
    *(
        f"properties.{name}"
        for name in (
            "start_action", "text", "rating", "intent", "confidence", "api", "status_code",
            "duration_ms", "goal",
        )
    ),
)  # fmt: skip


def _column(path: str) -> str:
    if path not in FIELD_PATHS:
        raise ValueError(f"{path} is not in FIELD_PATHS")
    return path.replace(".", "__")


def _jtype(path: str) -> str:
    """JSON type of the value at `path`: NULL when absent, 'NULL' when JSON null."""
    return f"t_{_column(path)}"


def _jtext(path: str) -> str:
    """The value at `path` as text (a string's content, a number's digits, an object's JSON)."""
    return f"s_{_column(path)}"


def _sql_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _is_blank(text: str) -> str:
    """SQL: the string `text` is empty or only whitespace. A blank string sorts before '!' (its
    first byte, if any, is at most a space): only those are trimmed, as ltrim with a list of
    characters costs 20-30x an equality (and trim 3x more than ltrim)."""
    return f"CASE WHEN {text} < '!' THEN ltrim({text}, '{BLANK}') = '' ELSE false END"


def _required_string_rules(field: str) -> list[tuple[str, str]]:
    return [
        (
            f"{_jtype(field)} IS NULL OR {_jtype(field)} = 'NULL'",
            f"'missing required field: {field}'",
        ),
        (f"{_jtype(field)} <> 'VARCHAR'", f"'field {field} must be a string'"),
        (_is_blank(_jtext(field)), f"'empty required field: {field}'"),
    ]


def _timestamp_expr(field: str) -> str:
    """The field as a UTC TIMESTAMP, or NULL when it is neither accepted form or out of range.
    (Epoch milliseconds are range-checked before they are multiplied: no overflow error.)"""
    return f"""CASE
        WHEN {_jtype(field)} = 'VARCHAR'
             AND regexp_full_match({_jtext(field)}, '{RFC3339}')
            THEN try_cast(upper({_jtext(field)}) AS TIMESTAMPTZ) AT TIME ZONE 'UTC'
        WHEN {_jtype(field)} IN {INTEGER_TYPES}
             AND try_cast({_jtext(field)} AS BIGINT) BETWEEN {MIN_EPOCH_MS} AND {MAX_EPOCH_MS}
            THEN make_timestamp(try_cast({_jtext(field)} AS BIGINT) * 1000)
        END"""


def _in_range(expr: str) -> str:
    return (
        f"CASE WHEN {expr} BETWEEN TIMESTAMP '{MIN_TIMESTAMP}' "
        f"AND TIMESTAMP '{MAX_TIMESTAMP}' THEN {expr} END"
    )


def _property_rules() -> list[tuple[str, str]]:
    """Each type's required properties (section 1 of the contract)."""

    def prop(name: str) -> str:
        return _jtype(f"properties.{name}")

    def text(name: str) -> str:
        return _jtext(f"properties.{name}")

    def non_empty_string(event_type: str, name: str) -> tuple[str, str]:
        return (
            f"event_type = '{event_type}' AND ({prop(name)} IS DISTINCT FROM 'VARCHAR' "
            f"OR {_is_blank(text(name))})",
            f"'{event_type}: properties.{name} must be a non-empty string'",
        )

    def number(name: str) -> str:
        return f"try_cast({text(name)} AS DOUBLE)"

    def outside(name: str, low: int, high: int | None = None) -> str:
        """True unless the number is finite and in [low, high] (1e400 parses as infinity)."""
        upper = f"{number(name)} <= {high}" if high is not None else f"isfinite({number(name)})"
        return f"NOT coalesce({number(name)} >= {low} AND {upper}, false)"

    return [
        (
            f"event_type = 'conversation_start' AND {prop('start_action')} IS NOT NULL "
            f"AND {prop('start_action')} <> 'NULL' "
            f"AND coalesce({text('start_action')} NOT IN {_sql_list(START_ACTIONS)}, true)",
            "'conversation_start: properties.start_action must be one of "
            + ", ".join(START_ACTIONS)
            + "'",
        ),
        (
            f"event_type = 'user_message' AND {prop('text')} NOT IN ('VARCHAR', 'NULL')",
            "'user_message: properties.text must be a string'",
        ),
        (
            f"event_type = 'feedback' AND ({prop('rating')} IS NULL "
            f"OR {prop('rating')} NOT IN {INTEGER_TYPES} "
            f"OR {outside('rating', *RATING_RANGE)})",
            "'feedback: properties.rating must be an integer from {} to {}'".format(*RATING_RANGE),
        ),
        non_empty_string("intent_matched", "intent"),
        (
            f"event_type = 'intent_matched' AND {prop('confidence')} IS NOT NULL "
            f"AND {prop('confidence')} <> 'NULL' AND ({prop('confidence')} NOT IN {NUMBER_TYPES} "
            f"OR {outside('confidence', *CONFIDENCE_RANGE)})",
            "'intent_matched: properties.confidence must be a number from {} to {}'".format(
                *CONFIDENCE_RANGE
            ),
        ),
        non_empty_string("api_call", "api"),
        (
            f"event_type = 'api_call' AND ({prop('status_code')} IS NULL "
            f"OR {prop('status_code')} NOT IN {INTEGER_TYPES} "
            f"OR {outside('status_code', *STATUS_CODE_RANGE)})",
            "'api_call: properties.status_code must be an integer from {} to {}'".format(
                *STATUS_CODE_RANGE
            ),
        ),
        (
            f"event_type = 'api_call' AND {prop('duration_ms')} IS NOT NULL "
            f"AND {prop('duration_ms')} <> 'NULL' AND ({prop('duration_ms')} NOT IN {NUMBER_TYPES} "
            f"OR {outside('duration_ms', MIN_DURATION_MS)})",
            f"'api_call: properties.duration_ms must be a number >= {MIN_DURATION_MS}'",
        ),
        non_empty_string("goal", "goal"),
    ]


def _rules() -> list[tuple[str, str]]:
    rules: list[tuple[str, str]] = [
        ("NOT file_is_utf8 AND contains(line, '\ufffd')", "'not valid UTF-8'"),
        ("NOT is_json", "'not valid JSON'"),
        ("NOT is_object", "'not a JSON object'"),
    ]
    for field in REQUIRED_STRINGS:
        rules += _required_string_rules(field)
    rules.append(
        (f"event_type NOT IN {_sql_list(EVENT_TYPES)}", "'unknown event_type: ' || event_type")
    )
    for field in TIMESTAMP_FIELDS:
        rules.append(
            (
                f"{_jtype(field)} IS NULL OR {_jtype(field)} = 'NULL'",
                f"'missing required field: {field}'",
            )
        )
        rules.append(
            (
                f"{field} IS NULL",
                f"'invalid timestamp in {field}: neither RFC 3339 with a UTC offset "
                "nor integer epoch milliseconds'",
            )
        )
    rules.append(
        (
            f"occurred_at > received_at + {MAX_LEAD}",
            f"'occurred_at is more than {MAX_LEAD_HOURS} hours after received_at'",
        )
    )
    rules += [
        (f"event_type <> '{PAGE_EVENT_TYPE}' AND ({cond})", msg)
        for cond, msg in _required_string_rules("conversation_id")
    ]
    # optional strings (and an impression's conversation_id): absent or null, or a string
    for field in ("conversation_id", *OPTIONAL_STRINGS):
        rules.append(
            (f"{_jtype(field)} NOT IN ('VARCHAR', 'NULL')", f"'field {field} must be a string'")
        )
    rules.append(
        (
            f"{_jtype('properties')} NOT IN ('OBJECT', 'NULL')",
            "'properties is not an object'",
        )
    )
    rules += _property_rules()
    return rules


def _reason_expr() -> str:
    whens = "\n        ".join(f"WHEN {cond} THEN {msg}" for cond, msg in _rules())
    return f"CASE\n        {whens}\n    END"


def _described(path: str) -> str:
    """`_jtype` and `_jtext` of the path from its JSON text `v_…`, as json_type and
    json_extract_string give them (a string without escapes is its text between the quotes)."""
    v = f"v_{_column(path)}"
    kind = f"""CASE
            WHEN {v} IS NULL THEN NULL
            WHEN {v} = 'null' THEN 'NULL'
            WHEN {v}[1] = '"' THEN 'VARCHAR'
            WHEN {v}[1] = '{{' THEN 'OBJECT'
            WHEN {v}[1] = '[' THEN 'ARRAY'
            WHEN {v} IN ('true', 'false') THEN 'BOOLEAN'
            WHEN contains({v}, '.') OR contains({v}, 'e') OR contains({v}, 'E') THEN 'DOUBLE'
            WHEN {v}[1] = '-' THEN 'BIGINT'
            ELSE 'UBIGINT'
        END AS {_jtype(path)}"""
    text = f"""CASE
            WHEN {v}[1] = '"' THEN
                CASE WHEN contains({v}, '\\') THEN {v} ->> '$' ELSE {v}[2:-2] END
            WHEN {v} <> 'null' THEN {v}
        END AS {_jtext(path)}"""
    return f"{kind},\n        {text}"


_PATHS = [f"$.{path}" for path in FIELD_PATHS]
_VALUES = ",\n        ".join(
    f"values[{i}]::VARCHAR AS v_{_column(path)}" for i, path in enumerate(FIELD_PATHS, start=1)
)
_DESCRIBED = ",\n        ".join(_described(path) for path in FIELD_PATHS)

CHECKED_SQL = f"""
WITH unmarked AS (
    SELECT
        source_file,
        line_number,
        line,
        file_is_utf8,
        -- the document: the line without a byte-order mark at its start
        CASE WHEN starts_with(line, '{BOM}') THEN line[2:] ELSE line END AS doc
    FROM lines
),
parsed AS (
    SELECT
        *,
        json_valid(doc) AS is_json
    FROM unmarked
    WHERE NOT {_is_blank("doc")}
),
extracted AS (
    SELECT
        *,
        -- valid JSON is an object exactly when it starts with a brace
        is_json AND starts_with(ltrim(doc, '{BLANK}'), '{{') AS is_object,
        CASE WHEN is_object THEN json_extract(doc, {_PATHS}) END AS values
    FROM parsed
),
valued AS (
    SELECT
        * EXCLUDE (values, doc),
        {_VALUES}
    FROM extracted
),
fielded AS (
    SELECT
        *,
        {_DESCRIBED}
    FROM valued
),
typed AS (
    SELECT
        *,
        {_jtext("event_type")} AS event_type,
        {_timestamp_expr("occurred_at")} AS occurred_at_any,
        {_timestamp_expr("received_at")} AS received_at_any
    FROM fielded
),
ranged AS (
    SELECT
        *,
        {_in_range("occurred_at_any")} AS occurred_at,
        {_in_range("received_at_any")} AS received_at
    FROM typed
)
SELECT
    source_file,
    line_number,
    {_reason_expr()} AS reason,
    -- kept for the rejects only, without the newline that ended it
    CASE WHEN reason IS NOT NULL THEN rtrim(line, chr(10)) END AS raw_line,
    {_jtext("event_id")} AS event_id,
    event_type,
    occurred_at,
    received_at,
    {_jtext("organization")} AS organization,
    {_jtext("bot")} AS bot,
    {_jtext("visitor_id")} AS visitor_id,
    {_jtext("conversation_id")} AS conversation_id,
    {_jtext("channel")} AS channel,
    {_jtext("page_url")} AS page_url,
    CASE WHEN {_jtype("properties")} = 'OBJECT'
        THEN {_jtext("properties")} ELSE '{{}}' END AS properties
FROM ranged
"""
