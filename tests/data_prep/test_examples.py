"""Per-example steps: chunking, sliding windows (ddsp's counts and lengths), eval keys, tf.train.Example."""

import math

import numpy as np
import pytest

from clarinet_ddsp.data_prep import examples as ex_lib


def _blocks(secs, rate, block=5000):
    """(audio at rate, audio at 16 kHz) blocks of a ramp, so positions can be checked."""
    n, n16 = int(secs * rate), int(secs * 16000)
    a = np.arange(n, dtype=np.float32) / rate
    b = np.arange(n16, dtype=np.float32) / 16000
    steps = max(1, math.ceil(n16 / block))
    for i in range(steps):
        lo, hi = i * n // steps, (i + 1) * n // steps
        lo16, hi16 = i * n16 // steps, (i + 1) * n16 // steps
        yield a[lo:hi], b[lo16:hi16]


@pytest.mark.parametrize(
    'secs, expected_secs',
    [
        (45.0, [20.0, 20.0, 5.0]),  # 5 s remainder >= one example: its own chunk
        (42.5, [20.0, 23.0]),  # 2.5 s remainder < 4 s: merged into the previous chunk, padded to 4 + k
        (3.3, [4.0]),  # one short chunk padded up to one example
        (9.2, [10.0]),  # padded by less than one hop (1 s)
    ],
)
def test_chunk_lengths_merge_short_remainders_and_pad_less_than_a_hop(secs, expected_secs):
    chunks = list(ex_lib.chunk_blocks(_blocks(secs, 44100), 44100, 20.0, 4.0, 1.0))
    assert [c[1].shape[0] / 16000 for c in chunks] == expected_secs
    assert [c[0].shape[0] / 44100 for c in chunks] == expected_secs
    # Contiguous, nothing lost: the 16 kHz ramp continues across chunks and ends with zero padding.
    joined = np.concatenate([c[1] for c in chunks])
    n16 = int(secs * 16000)
    np.testing.assert_allclose(joined[:n16], np.arange(n16) / 16000, atol=1e-4)
    assert not joined[n16:].any()


def test_chunk_secs_zero_keeps_the_file_whole():
    chunks = list(ex_lib.chunk_blocks(_blocks(30.0, 16000), 16000, 0, 4.0, 1.0))
    assert len(chunks) == 1 and chunks[0][1].shape[0] == 30 * 16000


@pytest.mark.parametrize('center', [False, True])
def test_windows_have_ddsps_lengths_and_count(center):
    secs, frame_rate = 10.0, 250
    n_frames = int(secs * frame_rate) + int(center)
    ex = {
        'audio': np.zeros(int(secs * 48000), np.float32),
        'audio_16k': np.zeros(int(secs * 16000), np.float32),
        'f0_hz': np.arange(n_frames, dtype=np.float32),
        'f0_confidence': np.zeros(n_frames, np.float32),
        'loudness_db': np.zeros(n_frames, np.float32),
        'key': 'k',
    }
    windows = list(ex_lib.split_example(ex, 48000, frame_rate, 4.0, 1.0, center))
    assert len(windows) == 7  # floor((10 - 4) / 1) + 1, as ddsp's _split_example
    for i, w in enumerate(windows):
        assert set(w) == set(ex_lib.FEATURE_KEYS)
        assert w['audio'].shape == (192000,) and w['audio_16k'].shape == (64000,)
        assert w['f0_hz'].shape == w['loudness_db'].shape == (1000 + int(center),)
        assert w['f0_hz'][0] == i * 250  # window i starts i hops in


def test_padded_tail():
    assert ex_lib.padded_tail_secs(4.0, 4, 1) == 4.0
    assert ex_lib.padded_tail_secs(4.2, 4, 1) == 5.0
    assert ex_lib.padded_tail_secs(3.0, 1, 0.5) == 3.0
    assert ex_lib.padded_tail_secs(3.1, 1, 0.5) == 3.5


def test_eval_keys_are_a_deterministic_disjoint_fraction():
    keys = [ex_lib.chunk_key(f'/data/{i}.wav', 0) for i in range(50)]
    chosen = ex_lib.eval_chunk_keys(keys, 0.2)
    assert len(chosen) == 10 and chosen <= set(keys)
    assert chosen == ex_lib.eval_chunk_keys(list(reversed(keys)), 0.2)
    assert ex_lib.eval_chunk_keys(keys[:2], 0.01) and not ex_lib.eval_chunk_keys(keys, 0.0)


def test_tfexample_holds_float_lists_per_key():
    ex = {k: np.arange(3, dtype=np.float32) + i for i, k in enumerate(ex_lib.FEATURE_KEYS)}
    proto = ex_lib.to_tfexample(ex)
    feature = proto.features.feature
    assert sorted(feature) == sorted(ex_lib.FEATURE_KEYS)
    assert list(feature['f0_hz'].float_list.value) == [2.0, 3.0, 4.0]


def test_chunking_streams_long_files_with_bounded_memory():
    consumed = []

    def endless_hour():  # one hour at 48 kHz in 1 s blocks, produced only when asked for
        for i in range(3600):
            consumed.append(i)
            yield np.zeros(48000, np.float32), np.zeros(16000, np.float32)

    chunks = ex_lib.chunk_blocks(endless_hour(), 48000, 20.0, 4.0, 1.0)
    first, second = next(chunks), next(chunks)
    assert first[0].shape == (960000,) and second[1].shape == (320000,)
    assert len(consumed) <= 45  # two chunks + one example held back, not the whole hour
