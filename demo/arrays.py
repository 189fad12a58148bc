"""Vectorised helpers shared by the generator's modules: column frames, segments of rows,
random picks from ragged groups and a hash for stable identities."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# A table as named numpy columns of equal length.
Frame = dict[str, np.ndarray]
# Column name -> (dtype, value for rows of a part that lacks the column).
Columns = dict[str, tuple[type, float]]


def concat_frames(parts: list[Frame], columns: Columns) -> Frame:
    """The parts one after the other, with `columns` (missing ones filled with their default)."""
    sizes = [len(next(iter(part.values()))) for part in parts]
    return {
        name: np.concatenate(
            [
                part[name].astype(dtype, copy=False) if name in part else np.full(size, fill, dtype)
                for part, size in zip(parts, sizes, strict=True)
            ]
        )
        for name, (dtype, fill) in columns.items()
    }


def take_rows(frame: Frame, rows: np.ndarray | slice) -> Frame:
    return {name: values[rows] for name, values in frame.items()}


def frame_length(frame: Frame) -> int:
    return len(next(iter(frame.values())))


def segment_starts(counts: np.ndarray) -> np.ndarray:
    """Index of each segment's first row, for segments of `counts` rows laid end to end."""
    return (np.cumsum(counts) - counts).astype(np.int64)


def segment_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Inclusive running sums of `values`, restarting for each segment (all counts >= 1)."""
    total = np.cumsum(values)
    starts = segment_starts(counts)
    return total - np.repeat(total[starts] - values[starts], counts)


def flags_at(length: int, rows: np.ndarray) -> np.ndarray:
    """A boolean column of `length` rows, true at `rows`."""
    flags = np.zeros(length, dtype=bool)
    flags[rows] = True
    return flags


Ragged = tuple[np.ndarray, np.ndarray, np.ndarray]  # flat values, offset and count per group


def ragged(groups: Sequence[Sequence[int]]) -> Ragged:
    """Groups of integers flattened, with each group's offset and count."""
    counts = np.array([len(g) for g in groups], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    flat = np.array([v for g in groups for v in g], dtype=np.int64)
    return flat, offsets, counts


def pick(rng: np.random.Generator, groups: Ragged, group: np.ndarray) -> np.ndarray:
    """One uniformly chosen member of each row's group."""
    flat, offsets, counts = groups
    k = (rng.random(len(group)) * counts[group]).astype(np.int64)
    return flat[offsets[group] + k]


def lognormal_ms(
    rng: np.random.Generator, median_ms: float, sigma: float, n: int, low: float, high: float
) -> np.ndarray:
    """`n` durations in milliseconds, log-normal around `median_ms`, clipped to [low, high]."""
    return np.clip(rng.lognormal(np.log(median_ms), sigma, n), low, high).astype(np.int64)


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 that scatters consecutive inputs."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def salt(seed: int, domain: int) -> np.uint64:
    """A 64-bit salt for one kind of identity (events, conversations, visitors) of a seed."""
    return mix64(np.array([(seed * 16 + domain) % 2**64], dtype=np.uint64))[0]
