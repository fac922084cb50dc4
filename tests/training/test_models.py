"""Autoencoder's level losses: the value of a loss on the audio, a gradient only on the amplitudes."""

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp import losses as ddsp_losses
from clarinet_ddsp import processors, synths
from clarinet_ddsp.training import models
from tests.training import tiny


def _loudness_loss(name='loudness_loss'):
    return ddsp_losses.SpectralLoss(mag_weight=0.0, loudness_weight=1.0, loudness_n_fft=512, name=name)


def _model(losses, level_losses=None, harmonic=True):
    n = tiny.N_SAMPLES
    noise = (synths.FilteredNoise(n_samples=n, name='filtered_noise'), ['noise_magnitudes'])
    if harmonic:
        dag = [
            (synths.Harmonic(n_samples=n, name='harmonic'), ['amps', 'harmonic_distribution', 'f0_hz']),
            noise,
            (processors.Add(name='add'), ['filtered_noise/signal', 'harmonic/signal']),
        ]
    else:
        dag = [noise]
    return tiny.autoencoder(dag, losses, level_losses)


def _batch():
    return {k: tf.constant(v[np.newaxis]) for k, v in tiny.make_example().items()}


def test_level_only_keeps_the_audio_and_its_gradient_reaches_only_the_amplitudes():
    rs = np.random.RandomState(0)
    n_frames, n_samples = 4, 64
    amps = tf.Variable(np.full([1, n_frames, 1], 0.5, np.float32))
    shape = tf.Variable(rs.randn(1, n_samples).astype(np.float32))
    weights = rs.randn(1, n_samples).astype(np.float32)
    with tf.GradientTape() as tape:
        audio = shape * tf.reduce_mean(amps)
        level = models.level_only(audio, amps)
        loss = tf.reduce_sum(weights * level)
    np.testing.assert_array_equal(level.numpy(), audio.numpy())
    grad_amps, grad_shape = tape.gradient(loss, [amps, shape])
    assert grad_shape is None
    # Constant amplitudes a: the upsampled gain is a everywhere and its interpolation weights sum to 1
    # per sample, so the frames' gradients add up to sum(weights * audio) / a.
    expected = np.sum(weights * audio.numpy()) / 0.5
    np.testing.assert_allclose(grad_amps.numpy().sum(), expected, rtol=1e-5)


def _dense_out_gradient(model, loss_name):
    tf.keras.utils.set_random_seed(0)  # the same noise in every call
    with tf.GradientTape() as tape:
        _, losses = model(_batch(), training=True, return_losses=True)
        loss = losses[loss_name]
    kernel = model.decoder.dense_out.kernel
    return float(loss), np.abs(tape.gradient(loss, kernel).numpy()).sum(0)  # per output column


def test_a_level_loss_has_a_loss_s_value_and_moves_only_the_amplitude_output():
    spectral, loudness = ddsp_losses.SpectralLoss(fft_sizes=(256, 64)), _loudness_loss()
    model = _model([spectral], [loudness])
    level_value, level_grad = _dense_out_gradient(model, 'loudness_loss')
    model.loss_objs, model.level_loss_objs = [spectral, loudness], []  # the same weights, an ordinary loss
    plain_value, plain_grad = _dense_out_gradient(model, 'loudness_loss')
    assert level_value == pytest.approx(plain_value, rel=1e-6)
    assert level_grad[0] > 0  # 'amps'
    np.testing.assert_array_equal(level_grad[1:], 0.0)  # harmonic distribution and noise untouched
    assert plain_grad[1:5].sum() > 0 and plain_grad[5:].sum() > 0  # on the audio itself they move


def test_level_losses_without_a_harmonic_synth_name_the_setting():
    model = _model([], [_loudness_loss()], harmonic=False)
    with pytest.raises(ValueError, match='level_losses'):
        model(_batch(), training=True)
