"""Wavetable lookup and synthesis against numpy: np.interp on a closed period, cosine sums, a sine."""

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp import core


def _interp_closed(phase, table):
    """numpy reference: the table closed into one period (first sample again at phase 1), interpolated."""
    n = len(table)
    return np.interp(phase * n, np.arange(n + 1), np.append(table, table[0]))


def test_linear_lookup_interpolates_one_closed_period():
    rng = np.random.default_rng(0)
    table = rng.normal(size=64).astype(np.float32)
    phase = rng.uniform(0, 1, 1000).astype(np.float32)
    out = core.linear_lookup(phase[np.newaxis, :, np.newaxis], table[np.newaxis]).numpy()[0]
    np.testing.assert_allclose(out, _interp_closed(phase, table), atol=1e-5)
    # The period closes: phase 1 reads the first sample.
    ends = core.linear_lookup(np.array([[[0.0], [1.0]]], np.float32), table[np.newaxis]).numpy()[0]
    np.testing.assert_allclose(ends, [table[0], table[0]], atol=1e-6)


def test_linear_lookup_reads_silence_beyond_one_point_outside_the_period():
    table = np.ones([1, 8], np.float32)
    # Half a point below 0 reads half the first sample; a whole point or more outside reads 0.
    phase = np.array([[[-0.5 / 8], [-1.0 / 8], [-0.3], [1.0 + 0.5 / 8], [1.0 + 1.0 / 8], [1.4]]], np.float32)
    np.testing.assert_allclose(core.linear_lookup(phase, table).numpy()[0], [0.5, 0, 0, 0.5, 0, 0], atol=1e-6)


def test_linear_lookup_with_a_table_per_sample_reads_each_samples_own_table():
    rng = np.random.default_rng(1)
    tables = rng.normal(size=[2, 30, 16]).astype(np.float32)
    phase = rng.uniform(0, 1, [2, 30, 1]).astype(np.float32)
    out = core.linear_lookup(phase, tables).numpy()
    expected = np.array([[_interp_closed(phase[b, t, 0], tables[b, t]) for t in range(30)] for b in range(2)])
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_linear_lookup_rejects_several_phases_per_sample():
    with pytest.raises(ValueError, match=r'phase has shape .*\[batch, n_samples, 1\]'):
        core.linear_lookup(np.zeros([1, 10, 2], np.float32), np.zeros([1, 8], np.float32))


def test_harmonic_distribution_to_wavetable_is_a_cosine_sum():
    rng = np.random.default_rng(2)
    hd = rng.uniform(0, 1, [2, 3, 10]).astype(np.float32)
    n = 128
    k = np.arange(n)
    expected = np.einsum('bfh,hk->bfk', hd, np.cos(2 * np.pi * np.arange(1, 11)[:, None] * k / n))
    out = core.harmonic_distribution_to_wavetable(hd, n_wavetable=n).numpy()
    assert out.shape == (2, 3, n)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_harmonic_distribution_to_wavetable_rejects_harmonics_above_nyquist():
    with pytest.raises(ValueError, match=r'n_wavetable=16 cannot hold 10 harmonics; use n_wavetable >= 20'):
        core.harmonic_distribution_to_wavetable(np.zeros([1, 1, 10], np.float32), n_wavetable=16)


def _sine_synthesis(precise_phase, f0=441.0, n_wavetable=1024, n=4000, sr=16000):
    table = np.sin(2 * np.pi * np.arange(n_wavetable) / n_wavetable).astype(np.float32)[np.newaxis]
    audio = core.wavetable_synthesis(
        np.full([1, 10, 1], f0, np.float32),
        np.full([1, 10, 1], 0.5, np.float32),
        table,
        n_samples=n,
        sample_rate=sr,
        precise_phase=precise_phase,
    ).numpy()[0]
    return audio, 0.5 * np.sin(2 * np.pi * f0 * np.arange(n) / sr)


def test_wavetable_synthesis_of_a_sine_table_is_a_sine():
    audio, expected = _sine_synthesis(precise_phase=True)
    # Linear interpolation of a 1024-point sine: error <= (2 pi / 1024)^2 / 8 of the amplitude.
    np.testing.assert_allclose(audio, expected, atol=0.5 * (2 * np.pi / 1024) ** 2 / 8 + 1e-5)


def test_float32_phase_drifts_as_in_ddsp_but_precise_phase_does_not():
    drift = np.abs(np.subtract(*_sine_synthesis(precise_phase=False)))
    exact = np.abs(np.subtract(*_sine_synthesis(precise_phase=True)))
    assert drift[:100].max() < 1e-5  # the float32 sum starts exact ...
    assert drift[-500:].max() > 10 * exact.max()  # ... and drifts over 4000 samples (110 cycles)
    assert drift.max() < 1e-2


def test_wavetable_synthesis_blends_frame_tables_like_resampled_tables():
    # Per-sample blending of neighbouring frames equals looking up resample(tables, n_samples).
    rng = np.random.default_rng(3)
    f0 = np.full([2, 20, 1], 300.0, np.float32)
    amps = np.ones([2, 20, 1], np.float32)
    tables = rng.normal(size=[2, 7, 32]).astype(np.float32)
    n = 2000
    audio = core.wavetable_synthesis(f0, amps, tables, n_samples=n, precise_phase=True).numpy()
    phase = (np.arange(n) * 300.0 / 16000) % 1.0
    per_sample = core.resample(tables, n).numpy()
    expected = np.array([[_interp_closed(phase[t], per_sample[b, t]) for t in range(n)] for b in range(2)])
    np.testing.assert_allclose(audio, expected, atol=2e-4)


def test_wavetable_synthesis_memory_stays_linear_in_samples():
    # ddsp materialises [batch, n_samples, n_wavetable] tables and weights (2 x 64000 x 2049 floats = 1 GB
    # each); the per-sample lookup keeps every intermediate O(n_samples * frames-or-wavetable).
    f = tf.function(
        lambda f0, a, t: core.wavetable_synthesis(f0, a, t, n_samples=64000),
        input_signature=[
            tf.TensorSpec([2, 250, 1], tf.float32),
            tf.TensorSpec([2, 250, 1], tf.float32),
            tf.TensorSpec([2, 250, 2048], tf.float32),
        ],
    )
    graph = f.get_concrete_function().graph
    largest = max(
        int(np.prod(t.shape.as_list()))
        for op in graph.get_operations()
        for t in op.outputs
        if t.shape.is_fully_defined()
    )
    assert largest <= 2 * 250 * 2051, largest
