"""Encoders: output shapes and frame counts, what they read, their errors and gin names."""

import gin
import numpy as np
import pytest

from clarinet_ddsp import spectral_ops
from clarinet_ddsp.training import encoders, nn


def _features(n_frames=50, batch=2):
    rng = np.random.default_rng(0)
    return {
        'audio': rng.normal(0, 0.3, [batch, 8000]).astype(np.float32),
        'f0_scaled': rng.uniform(0, 1, [batch, n_frames, 1]).astype(np.float32),
        'ld_scaled': rng.uniform(0, 1, [batch, n_frames, 1]).astype(np.float32),
        'instrument': np.array([[1], [4]]),
    }


@pytest.mark.parametrize(
    'encoder, z_shape',
    [
        (
            lambda: encoders.MfccEncoder(fft_sizes=(1024, 512), mel_bins=(64, 32), mfcc_bins=(20, 10)),
            (2, 50, 30),
        ),
        (lambda: encoders.MfccRnnEncoder(rnn_channels=8, z_dims=5), (2, 50, 5)),
        (lambda: encoders.MfccRnnEncoder(rnn_channels=8, z_dims=5, mean_aggregate=True), (2, 50, 5)),
        (lambda: encoders.MfccTimeDistributedRnnEncoder(rnn_channels=8, z_dims=5), (2, 50, 5)),
        (lambda: encoders.AggregateFeaturesEncoder(ch=6), (2, 50, 6)),
        (lambda: encoders.OneHotEncoder(vocab_size=8, n_dims=3), (2, 1, 3)),
        (lambda: encoders.OneHotEncoder(vocab_size=8, n_dims=3, skip_expand=False), (2, 50, 3)),
    ],
)
def test_z_encoders_give_z_at_the_conditionings_frame_count(encoder, z_shape):
    assert encoder()(_features())['z'].shape == z_shape


def test_one_z_per_example_is_constant_over_the_frames():
    z = encoders.AggregateFeaturesEncoder(ch=4)(_features())['z'].numpy()
    np.testing.assert_allclose(z, np.broadcast_to(z[:, :1], z.shape), rtol=1e-6)


def test_resnet_sinusoidal_encoder_maps_audio_to_named_controls():
    encoder = encoders.ResnetSinusoidalEncoder(
        output_splits=(('frequencies', 8), ('amplitudes', 2)),
        spectral_fn=lambda a: spectral_ops.compute_logmel(a, bins=64, fft_size=512),
    )
    out = encoder({'audio': _features()['audio']})
    assert {k: v.shape for k, v in out.items()} == {'frequencies': (2, 63, 8), 'amplitudes': (2, 63, 2)}


def test_sinusoidal_to_harmonic_encoder_normalises_below_nyquist():
    encoder = encoders.SinusoidalToHarmonicEncoder(
        net=nn.RnnSandwich(fc_stack_ch=8, rnn_ch=8), n_harmonics=40
    )
    rng = np.random.default_rng(1)
    out = encoder(
        {'sin_freqs': rng.uniform(100, 4000, [2, 10, 5]), 'sin_amps': rng.uniform(0, 1, [2, 10, 5])}
    )
    f0, dist = out['f0_hz'].numpy(), out['harm_dist'].numpy()
    assert np.all((f0 >= 20.0) & (f0 <= 1200.0))
    np.testing.assert_allclose(dist.sum(-1), 1.0, rtol=1e-5)
    above = f0 * np.arange(1, 41) >= 8000.0
    np.testing.assert_array_equal(dist[above], 0.0)
    with pytest.raises(
        ValueError, match=r'net is None; give a network, e.g. SinusoidalToHarmonicEncoder.net'
    ):
        encoders.SinusoidalToHarmonicEncoder()


def test_encoders_and_spectral_fns_have_ddsps_gin_names():
    gin.clear_config()
    gin.parse_config(
        'ResnetSinusoidalEncoder.spectral_fn = @f0_spectral/spectral_ops.compute_logmel\n'
        'f0_spectral/compute_logmel.bins = 64\n'
        "ResnetSinusoidalEncoder.output_splits = (('amplitudes', 3),)\n"
    )
    try:
        encoder = gin.get_configurable('encoders.ResnetSinusoidalEncoder')()
        mel = encoder.spectral_fn(_features()['audio'])
    finally:
        gin.clear_config()
    assert mel.shape[-1] == 64
    for name in (
        'MfccEncoder',
        'MfccRnnEncoder',
        'OneHotEncoder',
        'AggregateFeaturesEncoder',
        'SinusoidalToHarmonicEncoder',
        'MfccTimeDistributedRnnEncoder',
    ):
        assert issubclass(gin.get_configurable(f'encoders.{name}'), getattr(encoders, name))
