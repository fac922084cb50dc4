"""Per-example steps of TFRecord preparation as pure functions: chunk, f0, loudness, split, windows, Example.

An example is a dict of float32 numpy arrays with ddsp's keys (audio, audio_16k, f0_hz, f0_confidence,
loudness_db); chunks also carry 'key' (a stable id used for the train/eval split).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from clarinet_ddsp.spectral_ops import CREPE_SAMPLE_RATE, get_framed_lengths

FEATURE_KEYS = ('audio', 'audio_16k', 'f0_hz', 'f0_confidence', 'loudness_db')
Example = dict[str, np.ndarray]


def chunk_key(path: str, index: int) -> str:
    """Stable id of a file's index-th chunk (the same on every worker and every run)."""
    return hashlib.sha1(f'{path}#{index}'.encode()).hexdigest()


def padded_tail_secs(secs: float, example_secs: float, hop_secs: float) -> float:
    """Length the last chunk is zero-padded to so its final window ends at the chunk's end.

    ddsp pads every file's last chunk to a full chunk_secs (up to 20 s of silence per note); here the
    padding is less than one hop: the smallest example_secs + k * hop_secs (k >= 0) that holds `secs`.
    """
    if example_secs <= 0 or hop_secs <= 0:
        return secs
    if secs <= example_secs:
        return float(example_secs)
    k = math.ceil((secs - example_secs) / hop_secs - 1e-9)
    return example_secs + k * hop_secs


def _pad_or_trim(x: np.ndarray, length: int) -> np.ndarray:
    if x.shape[0] >= length:
        return x[:length]
    return np.concatenate([x, np.zeros(length - x.shape[0], x.dtype)])


def chunk_blocks(
    blocks: Iterable[tuple[np.ndarray, np.ndarray]],
    sample_rate: int,
    chunk_secs: float,
    example_secs: float,
    hop_secs: float,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Streams (audio, audio_16k) blocks into non-overlapping chunks, holding at most ~one chunk in memory.

    Chunks are chunk_secs long (0: the whole file is one chunk). A remainder shorter than one example is
    merged into the chunk before it; the last chunk is zero-padded by less than one hop (padded_tail_secs)
    so that sliding windows cover every sample.

    Args:
        blocks: iterable of (audio at sample_rate, audio at 16 kHz), float32 1-D blocks of equal duration.
        sample_rate: rate of the first array of each block.
        chunk_secs, example_secs, hop_secs: seconds, as the CLI flags.

    Yields:
        (audio [~chunk_secs * sample_rate], audio_16k [~chunk_secs * 16000]) float32.
    """
    rates = (int(sample_rate), CREPE_SAMPLE_RATE)
    if chunk_secs and chunk_secs > 0:
        chunk_sizes = [int(chunk_secs * r) for r in rates]
    else:
        chunk_sizes = [None, None]
    hold = [int(max(example_secs, 0) * r) for r in rates]  # keep >= one example behind the cut
    buffers: list[list[np.ndarray]] = [[], []]
    lengths = [0, 0]

    def take(i, n):
        data = np.concatenate(buffers[i]) if buffers[i] else np.zeros([0], np.float32)
        buffers[i] = [data[n:]] if n < data.shape[0] else []
        lengths[i] = data.shape[0] - min(n, data.shape[0])
        return data[:n]

    for block in blocks:
        for i in range(2):
            if block[i].shape[0]:
                buffers[i].append(block[i])
                lengths[i] += block[i].shape[0]
        while chunk_sizes[0] is not None and all(
            lengths[i] >= chunk_sizes[i] + hold[i] and lengths[i] > 0 for i in range(2)
        ):
            yield take(0, chunk_sizes[0]), take(1, chunk_sizes[1])

    if lengths[1] == 0:
        return
    tail_secs = padded_tail_secs(lengths[1] / CREPE_SAMPLE_RATE, example_secs, hop_secs)
    tails = [take(i, lengths[i]) for i in range(2)]
    yield tuple(_pad_or_trim(t, int(round(tail_secs * r))) for t, r in zip(tails, rates))


def chunk_spans(
    n_audio: int, n_16k: int, sample_rate: int, chunk_secs: float, example_secs: float, hop_secs: float
) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """Where chunk_blocks cuts a file, without reading it: per chunk, (start, stop, length) at each rate.

    Args:
        n_audio, n_16k: the file's length at sample_rate and at 16 kHz (int(duration * rate)).
        sample_rate, chunk_secs, example_secs, hop_secs: as chunk_blocks.

    Returns:
        One ((start, stop, length) at sample_rate, (start, stop, length) at 16 kHz) per chunk: the chunk
        is samples [start, stop) of the resampled file, zero-padded or cut to length, exactly what
        chunk_blocks yields for it.
    """
    rates = (int(sample_rate), CREPE_SAMPLE_RATE)
    totals = (int(n_audio), int(n_16k))
    n_full = 0
    sizes = (0, 0)
    if chunk_secs and chunk_secs > 0:
        sizes = tuple(int(chunk_secs * r) for r in rates)
        holds = tuple(int(max(example_secs, 0) * r) for r in rates)
        # chunk_blocks cuts a chunk while every rate holds more than a chunk plus one example.
        n_full = min(max(0, (n - h) // c) if c > 0 else 0 for n, c, h in zip(totals, sizes, holds))
    spans = [tuple((k * c, (k + 1) * c, c) for c in sizes) for k in range(n_full)]
    rest_16k = totals[1] - n_full * sizes[1]
    if rest_16k > 0:
        tail_secs = padded_tail_secs(rest_16k / CREPE_SAMPLE_RATE, example_secs, hop_secs)
        spans.append(
            tuple((n_full * c, n, int(round(tail_secs * r))) for c, n, r in zip(sizes, totals, rates))
        )
    return spans


def add_f0(
    ex: Example, frame_rate: int, center: bool, viterbi: bool, f0_fn: Callable | None = None
) -> Example:
    """Adds f0_hz and f0_confidence (CREPE on audio_16k, padding 'center' or 'same' as ddsp).

    f0_fn(audio_16k, frame_rate, viterbi=..., padding=...) -> (f0_hz, f0_confidence); defaults to
    clarinet_ddsp.spectral_ops.compute_f0 (the full CREPE).
    """
    if f0_fn is None:
        from clarinet_ddsp import spectral_ops

        f0_fn = spectral_ops.compute_f0
    f0_hz, f0_confidence = f0_fn(
        ex['audio_16k'], frame_rate, viterbi=viterbi, padding='center' if center else 'same'
    )
    ex = dict(ex)
    ex['f0_hz'] = np.asarray(f0_hz, dtype=np.float32)
    ex['f0_confidence'] = np.asarray(f0_confidence, dtype=np.float32)
    return ex


def add_loudness(
    ex: Example, frame_rate: int, center: bool, n_fft: int = 512, loudness_fn: Callable | None = None
) -> Example:
    """Adds loudness_db: A-weighted loudness of audio_16k (n_fft 512, ddsp's prepare_tfrecord settings)."""
    if loudness_fn is None:
        from clarinet_ddsp import spectral_ops

        loudness_fn = spectral_ops.compute_loudness
    loudness_db = loudness_fn(
        ex['audio_16k'], CREPE_SAMPLE_RATE, frame_rate, n_fft, padding='center' if center else 'same'
    )
    ex = dict(ex)
    ex['loudness_db'] = np.asarray(loudness_db, dtype=np.float32)
    return ex


def _windows(
    sequence: np.ndarray, rate: float, example_secs: float, hop_secs: float, extra: int = 0
) -> list[np.ndarray]:
    window = int(example_secs * rate) + extra
    hop = int(hop_secs * rate)
    n = (
        get_framed_lengths(len(sequence), window, hop, 'valid')[0]
        if hop > 0
        else int(len(sequence) >= window)
    )
    return [sequence[i * hop : i * hop + window] for i in range(max(n, 0))]


def split_example(
    ex: Example, sample_rate: int, frame_rate: int, example_secs: float, hop_secs: float, center: bool
) -> Iterator[Example]:
    """Sliding windows of example_secs every hop_secs, as ddsp (no padding at the end).

    Audio windows hold int(example_secs * rate) samples; feature windows int(example_secs * frame_rate)
    frames, one more with center. example_secs = 0 yields the example unsplit (without its key).
    """
    if not example_secs:
        yield {k: ex[k] for k in FEATURE_KEYS if k in ex}
        return
    columns = {
        'audio': _windows(ex['audio'], sample_rate, example_secs, hop_secs),
        'audio_16k': _windows(ex['audio_16k'], CREPE_SAMPLE_RATE, example_secs, hop_secs),
    }
    for key in ('loudness_db', 'f0_hz', 'f0_confidence'):
        columns[key] = _windows(ex[key], frame_rate, example_secs, hop_secs, extra=int(bool(center)))
    n = min(len(c) for c in columns.values())
    for i in range(n):
        yield {key: columns[key][i] for key in FEATURE_KEYS}


def to_tfexample(ex: Example) -> Any:
    """tf.train.Example with one FloatList per feature key (ddsp's _float_dict_to_tfexample)."""
    import tensorflow as tf

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                key: tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(ex[key], np.float32)))
                for key in FEATURE_KEYS
                if key in ex
            }
        )
    )


def eval_chunk_keys(keys: Sequence[str], eval_split_fraction: float) -> set[str]:
    """The chunks reserved for eval: int(n * fraction) of them (at least one when fraction > 0 and n > 1).

    The choice is a deterministic pseudo-random one (the smallest ids), independent of element order.
    """
    keys = sorted(set(keys))
    if not eval_split_fraction or len(keys) < 2:
        return set()
    n_eval = min(len(keys) - 1, max(1, int(len(keys) * eval_split_fraction)))
    return set(keys[:n_eval])
