"""Reverb: weight count, given / learned impulse responses against scipy, errors, gin."""

import gin
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from clarinet_ddsp import effects


def test_trainable_reverb_has_exactly_reverb_length_weights():
    reverb = effects.Reverb(trainable=True, reverb_length=48000)
    assert sum(int(np.prod(w.shape)) for w in reverb.trainable_weights) == 48000
    assert [w.name for w in reverb.trainable_weights] == ['ir']
    assert float(tf.math.reduce_std(reverb.trainable_weights[0])) < 1e-5  # N(0, 1e-6) init


def test_non_trainable_reverb_has_no_weights():
    assert effects.Reverb().weights == []


@pytest.mark.parametrize('add_dry', [True, False])
def test_reverb_with_given_ir_equals_scipy_convolution_without_first_tap(add_dry):
    rs = np.random.RandomState(0)
    audio = rs.randn(2, 800).astype(np.float32)
    ir = (0.1 * rs.randn(2, 300)).astype(np.float32)
    got = effects.Reverb(add_dry=add_dry)(audio, ir).numpy()
    wet_ir = ir.copy()
    wet_ir[:, 0] = 0.0
    expected = np.stack([scipy.signal.fftconvolve(audio[b], wet_ir[b])[:800] for b in range(2)])
    if add_dry:
        expected += audio
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_reverb_accepts_ir_with_channel_axis():
    audio = np.ones([1, 100], np.float32)
    ir = np.zeros([1, 10, 1], np.float32)
    np.testing.assert_allclose(effects.Reverb()(audio, ir).numpy(), audio)


def test_trainable_reverb_uses_its_weight_for_every_example():
    reverb = effects.Reverb(trainable=True, reverb_length=50, add_dry=False)
    reverb.trainable_weights[0].assign(np.r_[0.0, 1.0, np.zeros(48)].astype(np.float32))
    audio = np.random.RandomState(1).randn(3, 200).astype(np.float32)
    out = reverb(audio).numpy()
    np.testing.assert_allclose(out[:, 1:], audio[:, :-1], atol=1e-5)  # one-sample delay


def test_reverb_without_ir_names_the_fix():
    with pytest.raises(ValueError, match='trainable=False needs an ir'):
        effects.Reverb()(np.ones([1, 10], np.float32))


def test_reverb_from_gin():
    gin.clear_config()
    gin.parse_config('effects.Reverb.trainable = True\neffects.Reverb.reverb_length = 1000')
    try:
        reverb = gin.get_configurable('effects.Reverb')()
    finally:
        gin.clear_config()
    assert reverb.trainable_weights[0].shape == (1000,)


def test_exp_decay_reverb_learns_gain_and_decay_and_decays():
    reverb = effects.ExpDecayReverb(trainable=True, reverb_length=4000, add_dry=False)
    assert sorted(w.name for w in reverb.trainable_weights) == ['decay', 'gain']
    impulse = np.zeros([1, 8000], np.float32)
    impulse[0, 0] = 1.0
    tail = reverb(impulse).numpy()[0]
    assert np.abs(tail[:1000]).max() > 10 * np.abs(tail[3000:4000]).max() > 0


def test_filtered_noise_reverb_learns_magnitudes_and_shapes_its_noise():
    reverb = effects.FilteredNoiseReverb(
        trainable=True, reverb_length=8000, n_frames=10, n_filter_banks=33, add_dry=False
    )
    assert [(w.name, tuple(w.shape)) for w in reverb.trainable_weights] == [('magnitudes', (10, 33))]
    # Low bands loud, high bands silent: the impulse response's energy sits below 4 kHz.
    mags = np.where(np.arange(33) < 16, 5.0, -30.0).astype(np.float32)
    reverb.trainable_weights[0].assign(np.tile(mags, (10, 1)))
    ir = reverb.get_controls(np.zeros([3, 100], np.float32))['ir'].numpy()
    assert ir.shape == (3, 8000)
    np.testing.assert_array_equal(ir[0], ir[2])  # one impulse response for the whole batch
    power = np.abs(np.fft.rfft(ir[0])) ** 2
    freqs = np.fft.rfftfreq(8000, 1 / 16000)
    assert power[freqs < 3500].sum() > 1e4 * power[freqs > 4500].sum()


def test_filtered_noise_reverb_without_magnitudes_names_the_fix():
    with pytest.raises(ValueError, match='trainable=False needs a magnitudes input'):
        effects.FilteredNoiseReverb()(np.ones([1, 10], np.float32))
    with pytest.raises(ValueError, match='n_frames=0 must be a positive integer'):
        effects.FilteredNoiseReverb(n_frames=0)


@pytest.mark.parametrize('add_dry', [True, False])
def test_reverb_impulse_response_and_tail_equal_scipy_full_convolution(add_dry):
    rs = np.random.RandomState(2)
    reverb = effects.Reverb(trainable=True, reverb_length=300, add_dry=add_dry)
    ir = (0.1 * rs.randn(300)).astype(np.float32)
    reverb.trainable_weights[0].assign(ir)
    assert reverb.add_dry is add_dry
    expected_ir = np.r_[0.0, ir[1:]]
    np.testing.assert_array_equal(reverb.impulse_response().numpy(), expected_ir[np.newaxis])
    audio = rs.randn(2, 800).astype(np.float32)
    got = reverb.get_signal(audio, reverb.get_controls(audio)['ir'], padding='valid').numpy()
    expected = np.stack([scipy.signal.fftconvolve(audio[b], expected_ir) for b in range(2)])
    if add_dry:
        expected[:, :800] += audio
    assert got.shape == (2, 800 + 300 - 1)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_reverb_impulse_response_of_a_given_ir_zeroes_the_dry_tap():
    ir = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3, 1)
    np.testing.assert_array_equal(effects.Reverb().impulse_response(ir).numpy(), [[0, 2, 3], [0, 5, 6]])


def test_fir_filter_with_flat_response_passes_audio_through_the_windowed_impulse():
    # A flat magnitude response is an impulse at the centre of an odd window (its height there, ~1):
    # the audio passes undelayed, scaled.
    audio = np.random.default_rng(0).uniform(-1, 1, [2, 1000]).astype(np.float32)
    fir = effects.FIRFilter(window_size=65, scale_fn=None)
    out = fir(audio, np.ones([2, 10, 65], np.float32)).numpy()
    gain = np.sum(out * audio) / np.sum(audio**2)
    assert 0.99 < gain <= 1.0
    np.testing.assert_allclose(out, gain * audio, atol=1e-5)


def test_fir_filter_zero_response_silences_and_scale_fn_applies():
    fir = effects.FIRFilter()
    controls = fir.get_controls(np.zeros([1, 100]), np.zeros([1, 4, 9], np.float32))
    np.testing.assert_allclose(controls['magnitudes'].numpy(), 2.0 * 0.5 ** np.log(10.0) + 1e-7, rtol=1e-6)
    out = effects.FIRFilter(scale_fn=None)(np.ones([1, 400], np.float32), np.zeros([1, 4, 9], np.float32))
    np.testing.assert_allclose(out.numpy(), 0.0, atol=1e-7)


def test_mod_delay_with_constant_delay_adds_a_shifted_copy():
    audio = np.random.default_rng(1).normal(size=[1, 800]).astype(np.float32)
    # center 10 ms, depth 5 ms at 16 kHz: a 240-sample line; phase 0 -> 10 ms, 1 -> 15 ms (ddsp's
    # code; its docstring says center_ms - depth_ms), so 0.5 -> 12.5 ms = 200 samples.
    delay = effects.ModDelay(center_ms=10.0, depth_ms=5.0, gain_scale_fn=None, phase_scale_fn=None)
    out = delay(audio, np.full([1, 800, 1], 0.5, np.float32), np.full([1, 800, 1], 0.5, np.float32)).numpy()
    expected = audio + 0.5 * np.concatenate([np.zeros([1, 200]), audio[:, :-200]], axis=1)
    np.testing.assert_allclose(out, expected, atol=1e-4)  # 200.00000x samples in float32


def test_mod_delay_rejects_a_line_shorter_than_one_sample():
    with pytest.raises(ValueError, match=r'center_ms=0.01, depth_ms=0.0 give no delay line'):
        effects.ModDelay(center_ms=0.01, depth_ms=0.0)


def test_fir_filter_and_mod_delay_from_gin():
    gin.clear_config()
    gin.parse_config('effects.FIRFilter.window_size = 65\neffects.ModDelay.center_ms = 5.0')
    try:
        fir = gin.get_configurable('effects.FIRFilter')()
        mod = gin.get_configurable('effects.ModDelay')()
    finally:
        gin.clear_config()
    assert isinstance(fir, effects.FIRFilter) and fir.window_size == 65
    assert isinstance(mod, effects.ModDelay) and mod.center_ms == 5.0
