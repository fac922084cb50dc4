"""Oscillators against numpy sines of cumulative phase."""

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp import core

SR = 16000


def _numpy_bank(freqs, amps, sample_rate=SR, float32_phase=False, chunk_size=None):
    """sum_k a_k(t) sin(cumsum(2 pi f_k / sr)), silencing partials at or above Nyquist.

    float32_phase: sum the phase sequentially in float32, as ddsp's tf.cumsum does; with
    chunk_size, in float32 chunks whose wrapped end phases carry over (ddsp's angular_cumsum).
    """
    if float32_phase:
        omega = (freqs.astype(np.float32) * np.float32(2.0 * np.pi)) / np.float32(sample_rate)
        if chunk_size is None:
            phase = np.cumsum(omega, axis=1, dtype=np.float32).astype(np.float64)
        else:
            two_pi = np.float32(2.0 * np.pi)
            phase = np.zeros(omega.shape, np.float32)
            offset = np.zeros(omega[:, :1].shape, np.float32)
            for start in range(0, omega.shape[1], chunk_size):
                chunk = np.cumsum(omega[:, start : start + chunk_size], axis=1, dtype=np.float32)
                phase[:, start : start + chunk_size] = (chunk + offset) % two_pi
                offset = (offset + chunk[:, -1:] % two_pi) % two_pi
            phase = phase.astype(np.float64)
    else:
        phase = np.cumsum(2.0 * np.pi * freqs.astype(np.float64) / sample_rate, axis=1)
    amps = np.where(freqs >= sample_rate / 2.0, 0.0, amps)
    return np.sum(amps * np.sin(phase), axis=-1)


def _rel_err(got, expected):
    return np.linalg.norm(got - expected) / np.linalg.norm(expected)


@pytest.mark.parametrize('precise_phase', [False, True])
def test_oscillator_bank_matches_numpy_sine_of_cumulative_phase(precise_phase):
    rs = np.random.RandomState(0)
    freqs = np.cumsum(rs.uniform(-2, 2, [2, 1000, 3]), axis=1) + np.array([110.0, 990.0, 3000.0])
    amps = rs.uniform(0, 1, [2, 1000, 3])
    got = core.oscillator_bank(freqs, amps, precise_phase=precise_phase).numpy()
    expected = _numpy_bank(freqs, amps, float32_phase=not precise_phase)
    assert _rel_err(got, expected) < 2e-5


def test_float32_phase_drifts_from_exact_phase_but_precise_phase_does_not():
    freqs = np.full([1, 4000, 1], 7000.0)
    amps = np.ones([1, 4000, 1])
    exact = _numpy_bank(freqs, amps)
    assert _rel_err(core.oscillator_bank(freqs, amps).numpy(), exact) > 1e-3  # as ddsp
    assert _rel_err(core.oscillator_bank(freqs, amps, precise_phase=True).numpy(), exact) < 1e-4


def test_oscillator_bank_silences_partials_at_or_above_nyquist():
    freqs = np.full([1, 100, 2], 8000.0)
    freqs[..., 0] = 1000.0
    amps = np.ones([1, 100, 2])
    sep = core.oscillator_bank(freqs, amps, sum_sinusoids=False).numpy()
    assert np.all(sep[..., 1] == 0.0) and np.abs(sep[..., 0]).max() > 0.9


def test_angular_cumsum_equals_wrapped_cumsum_off_chunk_boundaries():
    omega = np.random.RandomState(1).uniform(0, 0.5, [2, 2500, 2]).astype(np.float32)
    got = core.angular_cumsum(omega, chunk_size=1000).numpy()
    expected = np.cumsum(omega.astype(np.float64), axis=1)
    assert got.shape == omega.shape and got.min() >= 0.0 and got.max() < 2 * np.pi + 1e-5
    np.testing.assert_allclose(np.sin(got), np.sin(expected), atol=2e-3)
    np.testing.assert_allclose(np.cos(got), np.cos(expected), atol=2e-3)


def test_get_harmonic_frequencies_are_integer_multiples():
    f0 = np.array([[[100.0], [220.0]]])
    got = core.get_harmonic_frequencies(f0, 4).numpy()
    np.testing.assert_allclose(got, f0 * np.arange(1, 5)[None, None, :])


def test_normalize_harmonics_sums_to_one_below_nyquist():
    dist = np.ones([1, 2, 10], np.float32)
    f0 = np.array([[[1000.0], [3000.0]]], np.float32)
    got = core.normalize_harmonics(dist, f0, SR).numpy()
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(got[0, 0, :7], 1 / 7, rtol=1e-6)  # 8 kHz and up removed.
    assert np.all(got[0, 0, 7:] == 0) and np.all(got[0, 1, 2:] == 0)


@pytest.mark.parametrize('use_angular_cumsum,precise_phase', [(False, False), (True, False), (False, True)])
def test_harmonic_synthesis_with_constant_controls_matches_numpy(use_angular_cumsum, precise_phase):
    # Float32 phase sums (ddsp's default) drift on high harmonics; compare that path with the
    # same float32 sum in numpy, the accurate paths with float64 phase.
    n_frames, n_samples, n_harmonics = 10, 4000, 25
    f0 = np.full([1, n_frames, 1], 440.0)
    amp = np.full([1, n_frames, 1], 0.5)
    dist = np.linspace(1.0, 0.1, n_harmonics)[None, None, :] * np.ones([1, n_frames, 1])
    got = core.harmonic_synthesis(
        f0,
        amp,
        harmonic_distribution=dist,
        n_samples=n_samples,
        use_angular_cumsum=use_angular_cumsum,
        precise_phase=precise_phase,
    ).numpy()
    k = np.arange(1, n_harmonics + 1)
    freqs = np.broadcast_to(440.0 * k, [1, n_samples, n_harmonics])
    amps = np.broadcast_to(0.5 * dist[:, :1], [1, n_samples, n_harmonics])
    expected = _numpy_bank(
        freqs, amps, float32_phase=not precise_phase, chunk_size=1000 if use_angular_cumsum else None
    )
    assert got.shape == (1, n_samples)
    assert _rel_err(got, expected) < (1e-4 if precise_phase else 2e-3)
    # Harmonics 19 and up (>= 8 kHz) are silent: no energy above 8 kHz - margin.
    spectrum = np.abs(np.fft.rfft(got[0] * np.hanning(n_samples)))
    hz = np.fft.rfftfreq(n_samples, 1 / SR)
    assert spectrum[hz > 7950].max() < 1e-3 * spectrum.max()
    assert hz[np.argmax(spectrum)] == pytest.approx(440.0, abs=4.0)


def test_harmonic_synthesis_with_varying_f0_matches_numpy():
    rs = np.random.RandomState(2)
    n_frames, n_samples = 40, 4000
    f0 = rs.uniform(100, 400, [2, n_frames, 1])
    amp = rs.uniform(0.1, 1, [2, n_frames, 1])
    dist = rs.uniform(0, 1, [2, n_frames, 15])
    got = core.harmonic_synthesis(
        f0,
        amp,
        harmonic_distribution=dist,
        n_samples=n_samples,
        amp_resample_method='linear',
        precise_phase=True,
    ).numpy()
    pos = np.arange(n_samples) * n_frames / n_samples
    interp = lambda x: np.stack(
        [
            np.stack([np.interp(pos, np.arange(n_frames), x[b, :, c]) for c in range(x.shape[-1])], -1)
            for b in range(2)
        ]
    )
    freqs = interp(f0) * np.arange(1, 16)
    amps = interp(amp * dist)
    assert _rel_err(got, _numpy_bank(freqs, amps)) < 1e-3


def test_harmonic_synthesis_rejects_mismatched_batch_axes():
    with pytest.raises(ValueError, match=r'batch axis.*frequencies 2.*amplitudes 3'):
        core.harmonic_synthesis(
            np.ones([2, 10, 1]), np.ones([3, 10, 1]), harmonic_distribution=np.ones([2, 10, 4]), n_samples=100
        )


def test_harmonic_synthesis_rejects_mismatched_time_axes():
    with pytest.raises(ValueError, match=r'time \(n_frames\) axis.*harmonic_distribution 12'):
        core.harmonic_synthesis(
            np.ones([2, 10, 1]), np.ones([2, 10, 1]), harmonic_distribution=np.ones([2, 12, 4]), n_samples=120
        )


def test_streaming_synthesis_in_two_blocks_equals_one_block():
    f0 = np.full([1, 8, 1], 330.0, np.float32)
    amp = np.full([1, 8, 1], 0.5, np.float32)
    dist = np.ones([1, 8, 5], np.float32)
    whole, _ = core.streaming_harmonic_synthesis(f0, amp, dist, n_samples=800)
    first, phase = core.streaming_harmonic_synthesis(f0[:, :4], amp[:, :4], dist[:, :4], n_samples=400)
    second, _ = core.streaming_harmonic_synthesis(
        f0[:, 4:], amp[:, 4:], dist[:, 4:], initial_phase=phase, n_samples=400
    )
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, atol=3e-3)


def _numpy_harmonic_synthesis(f0, harm_amps, hop, sample_rate=16000):
    """float64 reference: linear envelopes holding the last frame, one phase sum, Nyquist silenced."""
    n_frames = f0.shape[1]
    positions = np.arange(n_frames * hop) / hop
    frames = np.arange(n_frames)
    audio = []
    for b in range(f0.shape[0]):
        f0_env = np.interp(positions, frames, f0[b, :, 0].astype(np.float64))
        phase = np.cumsum(2 * np.pi * f0_env / sample_rate)
        out = np.zeros_like(phase)
        for k in range(harm_amps.shape[-1]):
            amp_env = np.interp(positions, frames, harm_amps[b, :, k].astype(np.float64))
            out += np.where((k + 1) * f0_env >= sample_rate / 2, 0.0, amp_env) * np.sin((k + 1) * phase)
        audio.append(out)
    return np.stack(audio), phase


def test_streaming_synthesis_in_blocks_and_pieces_of_unknown_length_equals_numpy():
    rng = np.random.RandomState(4)
    n_frames, hop = 40, 50
    f0 = np.linspace(300.0, 1500.0, n_frames)[np.newaxis, :, np.newaxis] * np.array([[[1.0]], [[0.8]]])
    f0 = (f0 * (1 + 0.02 * rng.randn(2, n_frames, 1))).astype(np.float32)  # harmonic 6 crosses Nyquist
    harm_amps = rng.uniform(0.0, 0.2, (2, n_frames, 6)).astype(np.float32)
    expected, phase = _numpy_harmonic_synthesis(f0, harm_amps, hop)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, 1], tf.float32),
            tf.TensorSpec([None, None, 6], tf.float32),
            tf.TensorSpec([None, 1, 1], tf.float64),
        ]
    )
    def last_piece(f, a, initial_phase):  # lengths unknown until run time, as in a SavedModel
        return core.streaming_harmonic_synthesis(
            f, a, initial_phase=initial_phase, amp_resample_method='linear', hop_size=hop, block_frames=5
        )

    first, first_phase = core.streaming_harmonic_synthesis(
        f0[:, :15],  # frames 0-13, and frame 14 as context
        harm_amps[:, :15],
        amp_resample_method='linear',
        hop_size=hop,
        block_frames=5,
        context_frames=1,
    )
    second, final_phase = last_piece(f0[:, 14:], harm_amps[:, 14:], first_phase)
    got = np.concatenate([first.numpy(), second.numpy()], axis=1)
    assert got.shape == expected.shape == (2, n_frames * hop)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    np.testing.assert_allclose(np.cos(final_phase.numpy()[1, 0, 0]), np.cos(phase[-1]), atol=1e-5)
    np.testing.assert_allclose(np.sin(final_phase.numpy()[1, 0, 0]), np.sin(phase[-1]), atol=1e-5)


def test_streaming_synthesis_in_blocks_equals_precise_whole_signal_synthesis():
    rng = np.random.RandomState(5)
    f0 = (200.0 + 50.0 * rng.rand(1, 30, 1)).astype(np.float32)
    amps = rng.uniform(0.1, 0.5, (1, 30, 1)).astype(np.float32)
    dist = rng.uniform(0.0, 1.0, (1, 30, 8)).astype(np.float32)
    dist /= dist.sum(-1, keepdims=True)
    whole = core.harmonic_synthesis(
        f0, amps, harmonic_distribution=dist, n_samples=30 * 64, precise_phase=True
    ).numpy()
    for block_frames in (1, 7, 30, 100):
        blocks, _ = core.streaming_harmonic_synthesis(
            f0, amps * dist, amp_resample_method='window', hop_size=64, block_frames=block_frames
        )
        np.testing.assert_allclose(blocks.numpy(), whole, atol=2e-6, err_msg=f'block_frames={block_frames}')


def test_streaming_synthesis_names_what_needs_hop_size():
    with pytest.raises(ValueError, match='block_frames=5 .* need hop_size'):
        core.streaming_harmonic_synthesis(np.ones([1, 4, 1]), np.ones([1, 4, 1]), block_frames=5)


def test_phase_cumsum_is_bit_identical_to_tf_cumsum_with_the_same_gradient():
    from clarinet_ddsp.core import oscillators

    x = tf.constant(np.random.default_rng(3).uniform(0.0, 0.4, size=[3, 5000, 7]), tf.float32)
    dy = tf.constant(np.random.default_rng(4).normal(size=[3, 5000, 7]), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = oscillators._cumsum_time(x)
        want = tf.cumsum(x, axis=1)
        loss_ours, loss_want = tf.reduce_sum(ours * dy), tf.reduce_sum(want * dy)
    np.testing.assert_array_equal(ours.numpy(), want.numpy())  # same float32 sums, same order
    np.testing.assert_array_equal(tape.gradient(loss_ours, x).numpy(), tape.gradient(loss_want, x).numpy())
