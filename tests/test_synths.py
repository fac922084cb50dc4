"""Harmonic / Additive / FilteredNoise against numpy, their errors, and the synth demo script."""

import os
import subprocess
import sys

import gin
import numpy as np
import pytest
import soundfile

from clarinet_ddsp import core, processors, synths

SR = 16000
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _np_exp_sigmoid(x):
    return 2.0 * (1.0 / (1.0 + np.exp(-x))) ** np.log(10.0) + 1e-7


def test_harmonic_controls_are_scaled_and_normalised_below_nyquist():
    rs = np.random.RandomState(0)
    amps, dist = rs.randn(2, 5, 1), rs.randn(2, 5, 12)
    f0 = np.full([2, 5, 1], 1000.0)
    controls = synths.Harmonic(n_samples=500).get_controls(amps, dist, f0)
    np.testing.assert_allclose(controls['amplitudes'].numpy(), _np_exp_sigmoid(amps), rtol=1e-5)
    expected = _np_exp_sigmoid(dist)
    expected[..., 7:] = 0.0  # 8 kHz and above
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(controls['harmonic_distribution'].numpy(), expected, rtol=1e-5)


def test_harmonic_signal_of_constant_controls_is_a_sum_of_harmonics():
    n_frames, n_samples = 10, 1600
    synth = synths.Harmonic(n_samples=n_samples, scale_fn=None, precise_phase=True)
    dist = np.array([0.5, 0.3, 0.2])[None, None, :] * np.ones([1, n_frames, 1])
    audio = synth(np.full([1, n_frames, 1], 0.8), dist, np.full([1, n_frames, 1], 250.0)).numpy()
    t = np.arange(1, n_samples + 1) / SR  # the phase sum includes the first sample
    expected = 0.8 * sum(w * np.sin(2 * np.pi * 250.0 * k * t) for k, w in zip([1, 2, 3], [0.5, 0.3, 0.2]))
    np.testing.assert_allclose(audio[0], expected, atol=1e-4)


def test_additive_is_harmonic_under_its_seed_era_name():
    synth = synths.Additive(n_samples=640)
    assert isinstance(synth, synths.Harmonic) and synth.name == 'additive'
    group = processors.ProcessorGroup(dag=[(synth, ['amps', 'dist', 'f0'])])
    outputs = group.get_controls(
        {
            'amps': np.zeros([1, 10, 1], np.float32),
            'dist': np.zeros([1, 10, 4], np.float32),
            'f0': np.full([1, 10, 1], 220.0, np.float32),
        }
    )
    assert outputs['additive']['signal'].shape == (1, 640)
    assert gin.get_configurable('synths.Additive') is not None


def _build_additive(bindings):
    gin.clear_config()
    try:
        gin.parse_config(bindings + ['build.synth = @synths.Additive()'])
        return gin.get_configurable('build')()
    finally:
        gin.clear_config()


@gin.configurable
def build(synth=None):
    return synth


def test_a_harmonic_binding_takes_effect_on_additive():
    synth = _build_additive(['Harmonic.n_samples = 16000', 'Harmonic.sample_rate = 8000'])
    assert type(synth) is synths.Additive and (synth.n_samples, synth.sample_rate) == (16000, 8000)
    assert synth.name == 'additive'  # its own name: outputs stay under 'additive/'
    scoped = _build_additive(['train/Harmonic.n_samples = 320', 'Harmonic.n_samples = 640'])
    assert scoped.n_samples == 640  # outside the scope


def test_equal_harmonic_and_additive_bindings_agree():
    synth = _build_additive(['Harmonic.n_samples = 16000', 'Additive.n_samples = 16000'])
    assert synth.n_samples == 16000


def test_additives_own_binding_wins_over_a_harmonic_binding():
    # models/solo_instrument.gin binds Additive.n_samples and includes models/ae.gin's Harmonic.n_samples.
    synth = _build_additive(['Additive.n_samples = 64000', 'Harmonic.n_samples = 16000'])
    assert synth.n_samples == 64000


def test_additive_built_in_python_keeps_its_arguments_under_a_harmonic_binding():
    gin.parse_config(['Harmonic.n_samples = 16000'])
    try:
        assert synths.Additive(n_samples=640).n_samples == 640
    finally:
        gin.clear_config()


def test_harmonic_rejects_n_samples_not_divisible_by_frames():
    synth = synths.Harmonic(n_samples=64000)
    with pytest.raises(ValueError, match=r'n_samples=64000 is not a multiple of n_frames=1001'):
        synth(np.zeros([1, 1001, 1]), np.zeros([1, 1001, 3]), np.full([1, 1001, 1], 100.0))


def test_harmonic_rejects_controls_with_mismatched_time_axes():
    with pytest.raises(ValueError, match=r'time \(n_frames\).*amplitudes 10.*harmonic_distribution 9'):
        synths.Harmonic(n_samples=100)(np.zeros([1, 10, 1]), np.zeros([1, 9, 3]), np.full([1, 10, 1], 100.0))


def test_harmonic_rejects_controls_with_mismatched_batch_axes():
    with pytest.raises(ValueError, match=r'batch axis.*f0_hz 3'):
        synths.Harmonic(n_samples=100)(np.zeros([2, 10, 1]), np.zeros([2, 10, 3]), np.full([3, 10, 1], 100.0))


def test_harmonic_rejects_unknown_resample_method():
    with pytest.raises(ValueError, match=r"amp_resample_method='spline'"):
        synths.Harmonic(amp_resample_method='spline')


@pytest.mark.parametrize('window_size', [0, 65])
def test_filtered_noise_flat_response_is_uniform_white_noise(window_size):
    synth = synths.FilteredNoise(n_samples=8000, window_size=window_size, scale_fn=None)
    audio = synth(np.ones([2, 10, 33], np.float32)).numpy()
    assert audio.shape == (2, 8000)
    # Flat magnitudes pass uniform noise in [-1, 1] (variance 1/3) through almost unchanged.
    assert np.var(audio) == pytest.approx(1 / 3, rel=0.1)


def test_filtered_noise_silent_magnitudes_give_silence():
    audio = synths.FilteredNoise(n_samples=800, scale_fn=None)(np.zeros([1, 4, 33], np.float32))
    assert np.abs(audio.numpy()).max() == 0.0


def test_filtered_noise_default_bias_makes_it_quiet():
    audio = synths.FilteredNoise(n_samples=800)(np.zeros([1, 4, 33], np.float32)).numpy()
    assert 0.0 < np.abs(audio).max() < 1e-2  # exp_sigmoid(-5) ~ 2e-3 per band


def test_filtered_noise_rejects_n_samples_not_split_by_frames():
    with pytest.raises(ValueError, match=r'n_samples=64000 does not split into n_frames=1001'):
        synths.FilteredNoise(n_samples=64000)(np.zeros([1, 1001, 65], np.float32))


@pytest.mark.slow  # a fresh interpreter (subprocess)
def test_synth_demo_writes_the_write_ups_tone(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, 'scripts', 'synth_demo.py'), '--output_dir', str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    audio, sample_rate = soundfile.read(tmp_path / 'synth_demo.wav')
    assert sample_rate == 16000 and audio.shape == (64000,)
    assert 0.01 < np.abs(audio).max() <= 1.0
    spectrum = np.abs(np.fft.rfft(audio[:16000] * np.hanning(16000)))
    assert np.fft.rfftfreq(16000, 1 / SR)[np.argmax(spectrum)] == pytest.approx(440.0, abs=2.0)
    # The amplitude decays: the last second is much quieter than the first.
    assert np.abs(audio[-16000:]).max() < 0.1 * np.abs(audio[:16000]).max()
    with open(tmp_path / 'synth_demo_spectrogram.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_sinusoidal_with_given_frequencies_matches_numpy():
    synth = synths.Sinusoidal(
        n_samples=1600, amp_scale_fn=None, freq_scale_fn=None, amp_resample_method='linear'
    )
    freqs = np.full([1, 10, 2], [300.0, 1200.0], np.float32)
    amps = np.full([1, 10, 2], [0.5, 0.25], np.float32)
    # ddsp sums phase sequentially in float32; do the same in numpy.
    omega = np.float32([300.0, 1200.0]) * np.float32(2 * np.pi) / np.float32(SR)
    phase = np.cumsum(np.tile(omega, [1600, 1]), axis=0, dtype=np.float32)
    expected = (np.float64([0.5, 0.25]) * np.sin(phase.astype(np.float64))).sum(-1)
    np.testing.assert_allclose(synth(amps, freqs).numpy()[0], expected, atol=1e-5)


def test_tensor_to_audio_drops_the_channel_axis():
    samples = np.random.RandomState(0).randn(2, 100, 1).astype(np.float32)
    np.testing.assert_array_equal(synths.TensorToAudio()(samples).numpy(), samples[..., 0])


def test_harmonic_streaming_equals_get_signal_with_precise_phase():
    rs = np.random.RandomState(6)
    synth = synths.Harmonic(n_samples=30 * 64, precise_phase=True)
    controls = synth.get_controls(
        rs.randn(1, 30, 1).astype(np.float32),
        rs.randn(1, 30, 12).astype(np.float32),
        (300.0 + 30.0 * rs.rand(1, 30, 1)).astype(np.float32),
    )
    whole = synth.get_signal(**controls).numpy()
    streamed, final_phase = synth.get_signal_streaming(**controls, hop_size=64, block_frames=7)
    np.testing.assert_allclose(streamed.numpy(), whole, atol=2e-6)
    assert final_phase.shape == (1, 1, 1) and final_phase.dtype == np.float64


def test_filtered_noise_streaming_filters_seeded_noise_like_get_signal():
    import tensorflow as tf

    synth = synths.FilteredNoise(n_samples=20 * 64, window_size=129)
    mags = synth.get_controls(np.random.RandomState(7).randn(2, 20, 33).astype(np.float32))['magnitudes']
    noise = tf.random.stateless_uniform([2, 20 * 64], seed=[3, 0], minval=-1.0, maxval=1.0)
    expected = core.frequency_filter(noise, mags, window_size=129).numpy()
    got = synth.get_signal_streaming(mags, hop_size=64, block_frames=6, seed=3).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not np.allclose(synth.get_signal_streaming(mags, hop_size=64, seed=4).numpy(), got)


def test_wavetable_synth_of_harmonic_tables_matches_harmonic_synthesis():
    # A table holding the harmonic distribution's cosine sum plays the same tone as the harmonic
    # oscillators, up to the cosine/sine phase of each partial: compare magnitude spectra.
    rng = np.random.default_rng(0)
    hd = rng.uniform(0, 1, [1, 1, 8]).astype(np.float32)
    hd /= hd.sum()
    f0 = np.full([1, 20, 1], 250.0, np.float32)
    amps = np.full([1, 20, 1], 0.5, np.float32)
    tables = core.harmonic_distribution_to_wavetable(hd, 2048)
    audio = synths.Wavetable(n_samples=16000, scale_fn=None, precise_phase=True)(amps, tables, f0).numpy()[0]
    spectrum = np.abs(np.fft.rfft(audio)) / 8000  # 1 Hz bins: a partial of amplitude a gives a
    np.testing.assert_allclose(spectrum[250 * np.arange(1, 9)], 0.5 * hd[0, 0], atol=1e-3)


def test_wavetable_synth_scales_controls_and_is_registered_with_gin():
    synth = synths.Wavetable(n_samples=400)
    controls = synth.get_controls(np.zeros([1, 4, 1]), np.zeros([1, 4, 16]), np.full([1, 4, 1], 100.0))
    np.testing.assert_allclose(controls['wavetables'].numpy(), core.exp_sigmoid(0.0).numpy(), rtol=1e-6)
    gin.clear_config()
    gin.parse_config('synths.Wavetable.n_samples = 1600')
    try:
        assert gin.get_configurable('synths.Wavetable')().n_samples == 1600
    finally:
        gin.clear_config()
