"""The lines of a delivery window as NDJSON text, written to its landing file.

A line is assembled from 15 pieces, one arrow string array each, joined row by row in one pass
(`pyarrow.compute.binary_join_element_wise`; a null piece is left out):

* fixed-width pieces built as numpy byte matrices: the event id, the visitor and conversation
  ids (UUIDs), and each timestamp's date and time of day (from lookup tables);
* fragments of JSON chosen from tables built once per run, by a code that may combine several
  columns: the event type; a timestamp's milliseconds, offset and the next key; organisation and
  bot; channel and page; the properties' opening (by type and label) and closing (by type and
  text suffix, failure reason, confidence or duration), which ends the line;
* integers (epoch milliseconds, a user text's number, a rating or status code) cast by arrow.

The JSON keys are written in the contract's order. Malformed and blank lines are written
between the events' text where they belong.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from demo.arrays import GOLDEN, Frame, frame_length, mix64, take_rows
from demo.catalogue import Catalogue
from demo.delivery import EPOCH_FORM, TIMESTAMP_OFFSETS, WindowLines
from demo.rhythm import DAY_MS
from demo.traffic import (
    API_CALL,
    CONVERSATION_START,
    FEEDBACK,
    GOAL,
    IMPRESSION,
    INTENT_MATCHED,
    MAX_API_DURATION_MS,
    USER_MESSAGE,
)
from ingest.vocabulary import EVENT_TYPES

GZIP_LEVEL = 1  # level 6 is ~15% smaller but 3x slower
SLICE_ROWS = 100_000  # lines assembled at a time: bounds the memory per window
CHANNELS = ("web", "mobile")


def _strings(values: list[str]) -> pa.Array:
    """A string array built from its buffers (`pa.array` of a list would import pandas)."""
    encoded = [value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    return pa.Array.from_buffers(pa.string(), len(encoded), [None, pa.py_buffer(offsets), data])


def _numbers(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A numeric array (null where not `valid`) sharing the numpy array's memory."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype), len(values), [_bitmap(valid), pa.py_buffer(values)]
    )


def _bitmap(valid: np.ndarray | None) -> pa.Buffer | None:
    return None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))


def _fixed_width(chars: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """The rows of a uint8 matrix as strings (null where not `valid`)."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = pa.py_buffer(np.ascontiguousarray(chars))
    return pa.Array.from_buffers(pa.string(), n, [_bitmap(valid), pa.py_buffer(offsets), data])


def _picked(fragments: pa.Array, codes: np.ndarray) -> pa.Array:
    """The fragment of each row's code."""
    return pc.take(fragments, _numbers(codes.astype(np.int32)))


def _integers(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Decimal digits of integers; null where not `valid`."""
    return pc.cast(_numbers(values.astype(np.int64), valid), pa.string())


# ---------------------------------------------------------------------------------------------
# Identities: version-4 UUIDs from 64-bit keys.


def _hex_quads() -> np.ndarray:
    """Two bytes read as a uint16 -> their four hex digits, as the uint32 whose bytes they are."""
    both = np.arange(65_536)
    octets = np.stack([both >> 8, both & 0xFF], axis=1).astype(np.uint8)
    hex_digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    digits = hex_digits[np.stack([octets >> 4, octets & 15], axis=2).reshape(-1, 4)]
    quads = np.empty(65_536, dtype=np.uint32)
    quads[octets.view(np.uint16).ravel()] = digits.view(np.uint32).ravel()
    return quads


_HEX_QUADS = _hex_quads()
_UUID_RUNS = ((0, 8), (9, 13), (14, 18), (19, 23), (24, 36))  # hex digits between the dashes
_UUID_VARIANT = np.frombuffer(b"89ab", dtype=np.uint8)


def _put_uuids(chars: np.ndarray, at: int, keys: np.ndarray) -> None:
    """Writes the UUID of each key into columns `at` to `at + 36` of `chars`; distinct keys
    give distinct UUIDs (version 4: two hashes of the key, in big-endian byte order)."""
    n = len(keys)
    words = np.empty((n, 2), dtype=np.uint64)
    words[:, 0] = mix64(keys)
    words[:, 1] = mix64(keys ^ GOLDEN)
    if np.little_endian:
        words.byteswap(inplace=True)
    octets = words.view(np.uint8)
    digits = _HEX_QUADS[words.view(np.uint16)].view(np.uint8)  # (n, 32)
    used = 0
    for begin, end in _UUID_RUNS:
        chars[:, at + begin : at + end] = digits[:, used : used + end - begin]
        used += end - begin
        if end < 36:
            chars[:, at + end] = ord("-")
    chars[:, at + 14] = ord("4")
    chars[:, at + 19] = _UUID_VARIANT[octets[:, 8] & 3]


def _template(text: str, n: int) -> np.ndarray:
    """`n` rows of `text` as a uint8 matrix, to be filled in."""
    return np.broadcast_to(np.frombuffer(text.encode(), dtype=np.uint8), (n, len(text))).copy()


# ---------------------------------------------------------------------------------------------
# Timestamps: `"YYYY-MM-DDTHH:MM:SS` from lookup tables, then the milliseconds (left out when
# zero), the offset and the closing quote as one fragment; or epoch milliseconds.

_OFFSET_MS = np.array([*TIMESTAMP_OFFSETS, 0], dtype=np.int64) * 60_000
_TAIL_CODES = 1001  # per form: milliseconds 0 to 999, and 1000 for none


def _offset_text(minutes: int) -> str:
    if minutes == 0:
        return "Z"
    sign = "+" if minutes > 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _timestamp_tails(then: str) -> pa.Array:
    """What follows a timestamp's seconds, then `then`; code `form * 1001 + ms` (1000 for no
    milliseconds); epoch milliseconds are followed by `then` alone."""
    tails = [
        (f".{ms:03d}" if ms < 1000 else "") + _offset_text(minutes) + '"' + then
        for minutes in TIMESTAMP_OFFSETS
        for ms in range(_TAIL_CODES)
    ]
    return _strings(tails + [then] * _TAIL_CODES)


def _times_of_day() -> np.ndarray:
    """`HH:MM:SS` of every second of a day, one row each."""
    second = np.arange(86_400)
    chars = np.empty((86_400, 8), dtype=np.uint8)
    chars[:, 2::3] = ord(":")
    for column, value in ((0, second // 3600), (3, second // 60 % 60), (6, second % 60)):
        chars[:, column] = ord("0") + value // 10
        chars[:, column + 1] = ord("0") + value % 10
    return chars


_TIMES_OF_DAY = _times_of_day()


def _dates(first: int, end: int) -> np.ndarray:
    """`"YYYY-MM-DDT` of the days since the epoch from `first` to before `end`."""
    text = "".join(f'"{dt.date(1970, 1, 1) + dt.timedelta(days=d)}T' for d in range(first, end))
    return np.frombuffer(text.encode(), dtype=np.uint8).reshape(-1, 12)


def _timestamps(ms: np.ndarray, form: np.ndarray, tails: pa.Array) -> list[pa.Array]:
    """The pieces of each timestamp's JSON value in its form, and what `tails` adds."""
    epoch = form == EPOCH_FORM
    day, in_day = np.divmod(ms + _OFFSET_MS[form], DAY_MS)
    first = int(day.min())
    chars = np.empty((len(ms), 20), dtype=np.uint8)
    chars[:, :12] = _dates(first, int(day.max()) + 1)[day - first]
    chars[:, 12:] = _TIMES_OF_DAY[in_day // 1000]
    millis = in_day % 1000
    tail = form.astype(np.int64) * _TAIL_CODES + np.where(millis > 0, millis, 1000)
    return [_fixed_width(chars, ~epoch), _integers(ms, epoch), _picked(tails, tail)]


# ---------------------------------------------------------------------------------------------
# Properties, and the line's end, as two fragments chosen by code around a number: the opening
# by event type and label, the closing by event type and detail label or measure.

_PROPERTIES_HEAD = {  # event type -> the opening before a label, and what follows the label
    CONVERSATION_START: (',"properties":{"start_action":"', '"}'),
    USER_MESSAGE: (',"properties":{"text":"', ""),
    FEEDBACK: (',"properties":{"rating":', ""),
    INTENT_MATCHED: (',"properties":{"intent":"', '"'),
    API_CALL: (',"properties":{"api":"', '","status_code":'),
    GOAL: (',"properties":{"goal":"', '"'),
}
_NO_TEXT = ',"properties":{}'  # a user message without text
_END = "}\n"
_MAX_DURATION_TENTHS = MAX_API_DURATION_MS * 10  # API call durations have one decimal


def _constant(text: str) -> pa.Scalar:
    """A string scalar (from an array: converting a Python string would import pandas)."""
    return _strings([text])[0]


def _durations(then: str) -> pa.Array:
    """`,"duration_ms":` and each number of tenths of a millisecond as a decimal, then `then`."""
    tenths = np.arange(_MAX_DURATION_TENTHS + 1)
    return pc.binary_join_element_wise(
        _constant(',"duration_ms":'),
        pc.cast(_numbers(tenths // 10), pa.string()),
        _constant("."),
        pc.cast(_numbers(tenths % 10), pa.string()),
        _constant(then),
        _constant(""),
    )


_NOTHING = _constant("")  # the separator of the pieces


class LineWriter:
    """Turns delivered events of one catalogue into NDJSON text."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.event_types = _strings(
            [f'","event_type":"{name}","occurred_at":' for name in EVENT_TYPES]
        )
        self.occurred_tails = _timestamp_tails(',"received_at":')
        self.received_tails = _timestamp_tails("")
        self.bots = _strings(
            [
                f',"organization":"{catalogue.org_names[org]}","bot":"{bot}","visitor_id":"'
                for bot, org in zip(catalogue.bot_names, catalogue.bot_org, strict=True)
            ]
        )
        labels = catalogue.labels.values
        self.label_codes = len(labels) + 1  # code 0: no label
        self.channel_pages = _strings(
            [
                (f',"channel":"{channel}"' if channel else "")
                + (f',"page_url":"{page}"' if page else "")
                for channel in ("", *CHANNELS)
                for page in ("", *labels)
            ]
        )
        self.properties_heads = _strings(
            [
                self._properties_head(event_type, label)
                for event_type in range(len(EVENT_TYPES))
                for label in (None, *labels)
            ]
        )
        self._add_properties_tails(labels)

    @staticmethod
    def _properties_head(event_type: int, label: str | None) -> str:
        if event_type == USER_MESSAGE and label is None:
            return _NO_TEXT
        if event_type not in _PROPERTIES_HEAD or (label is None and event_type != FEEDBACK):
            return ""
        opening, after = _PROPERTIES_HEAD[event_type]
        return opening + (label or "") + after

    def _add_properties_tails(self, labels: list[str]) -> None:
        """Tails, by segment: the line's end alone; closing braces; a text's suffix; a failure
        reason; a confidence (thousandths); a duration (tenths)."""
        segments = [
            [_END],
            ["}" + _END],
            [f'{label}"}}{_END}' for label in labels],
            [f',"reason":"{label}"}}{_END}' for label in labels],
            [f',"confidence":{k / 1000!r}}}{_END}' for k in range(1001)],  # 0 to 1
        ]
        starts = np.cumsum([0, *(len(segment) for segment in segments)])
        self.text_tails, self.reason_tails, self.confidence_tails, self.duration_tails = starts[2:]
        self.properties_tails = pa.concat_arrays(
            [_strings([t for segment in segments for t in segment]), _durations("}" + _END)]
        )

    def text(self, rows: Frame) -> pa.Array:
        """Each event's line, newline included."""
        n = frame_length(rows)
        event_type = rows["type"].astype(np.int64)
        head = _template('{"event_id":"' + "0" * 36, n)
        _put_uuids(head, 13, rows["event_key"])
        visitor = _template("0" * 36 + '"', n)
        _put_uuids(visitor, 0, rows["visitor_key"])
        conversation = _template(',"conversation_id":"' + "0" * 36 + '"', n)
        _put_uuids(conversation, 20, rows["conversation_key"])
        channel_page = (rows["channel"].astype(np.int64) + 1) * self.label_codes + rows["page"] + 1
        number = rows["number"]
        pieces = [
            _fixed_width(head),
            _picked(self.event_types, event_type),
            *_timestamps(rows["occurred"], rows["occurred_form"], self.occurred_tails),
            *_timestamps(rows["received"], rows["received_form"], self.received_tails),
            _picked(self.bots, rows["bot"]),
            _fixed_width(visitor),
            _fixed_width(conversation, event_type != IMPRESSION),
            _picked(self.channel_pages, channel_page),
            _picked(self.properties_heads, event_type * self.label_codes + rows["label"] + 1),
            _integers(number, number >= 0),
            _picked(self.properties_tails, self._properties_tail(rows, event_type)),
        ]
        return pc.binary_join_element_wise(*pieces, _NOTHING, null_handling="skip")

    def _properties_tail(self, rows: Frame, event_type: np.ndarray) -> np.ndarray:
        """Each row's code in `properties_tails`."""
        measure = rows["measure"]
        has_measure = ~np.isnan(measure)
        detail = rows["detail"]
        value = np.where(has_measure, measure, 0)
        closes = np.isin(event_type, (FEEDBACK, INTENT_MATCHED, API_CALL, GOAL)).astype(np.int64)
        return np.select(
            [
                (event_type == USER_MESSAGE) & (detail >= 0),
                (event_type == GOAL) & (detail >= 0),
                (event_type == INTENT_MATCHED) & has_measure,
                (event_type == API_CALL) & has_measure,
            ],
            [
                self.text_tails + detail,
                self.reason_tails + detail,
                self.confidence_tails + np.rint(value * 1000).astype(np.int64),
                self.duration_tails + np.rint(value * 10).astype(np.int64),
            ],
            closes,
        )


def _data(text: pa.Array, begin: int, end: int) -> memoryview:
    """The UTF-8 bytes of rows `begin` to before `end` of a string array, without copying."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset :]
    return memoryview(text.buffers()[2])[int(offsets[begin]) : int(offsets[end])]


def _write_lines(writer: LineWriter, out: BinaryIO, window: WindowLines) -> None:
    """The window's events by slices, each malformed or blank line where it belongs."""
    delivered = window.in_delivery_order()
    junk = list(zip(delivered.junk_after.tolist(), delivered.junk.lines, strict=True))
    events = frame_length(delivered.events)
    for begin in range(0, events, SLICE_ROWS):
        end = min(begin + SLICE_ROWS, events)
        text = writer.text(take_rows(delivered.events, slice(begin, end)))
        done = begin
        while junk and junk[0][0] <= end:
            after, line = junk.pop(0)
            out.write(_data(text, done - begin, after - begin))
            out.write(line + b"\n")
            done = after
        out.write(_data(text, done - begin, end - begin))
    for _, line in junk:  # a window without events
        out.write(line + b"\n")


def write_window(
    writer: LineWriter, window: WindowLines, path: Path, compress: bool, delivered_ms: int
) -> int:
    """Writes a window's lines into the file at `path`, dated (modification time) when its
    window closed, as a platform delivering it then would have, but never in the future (a
    recent file is one still being written); returns the bytes written."""
    with path.open("wb") as raw:
        out = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL)
            if compress
            else raw
        )
        _write_lines(writer, out, window)
        if compress:
            out.close()
        size = raw.tell()
    stamp_ns = min(delivered_ms * 1_000_000, time.time_ns())
    os.utime(path, ns=(stamp_ns, stamp_ns))
    return size
