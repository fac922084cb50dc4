"""RnnFcDecoder: the decoder of the DDSP clarinet experiments write-up (README) has 4,801,150 parameters;
outputs follow output_splits.
"""

import numpy as np
import tensorflow as tf

from clarinet_ddsp.training import decoders


def test_solo_instrument_decoder_has_the_write_ups_parameter_count():
    decoder = decoders.RnnFcDecoder(
        rnn_channels=512,
        rnn_type='gru',
        ch=512,
        layers_per_stack=3,
        input_keys=('ld_scaled', 'f0_scaled'),
        output_splits=(('amps', 1), ('harmonic_distribution', 60), ('noise_magnitudes', 65)),
    )
    out = decoder({'ld_scaled': tf.zeros([1, 4, 1]), 'f0_scaled': tf.zeros([1, 4, 1])})
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        'amps': (1, 4, 1),
        'harmonic_distribution': (1, 4, 60),
        'noise_magnitudes': (1, 4, 65),
    }
    # The DDSP clarinet experiments write-up's log: rnn_fc_decoder (RnnFcDecoder) 4801150.
    assert sum(int(np.prod(w.shape)) for w in decoder.trainable_weights) == 4_801_150


def test_decoder_reads_only_its_input_keys_and_is_causal():
    decoder = decoders.RnnFcDecoder(
        rnn_channels=4, ch=4, layers_per_stack=1, input_keys=('a', 'b'), output_splits=(('x', 2),)
    )
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 6, 1)).astype(np.float32)
    b = rng.standard_normal((1, 6, 1)).astype(np.float32)
    y1 = decoder({'a': a, 'b': b, 'unused': tf.zeros([3])})['x'].numpy()
    a2 = a.copy()
    a2[0, 4:] += 1.0  # A later change must not affect earlier frames (unidirectional GRU).
    y2 = decoder({'a': a2, 'b': b})['x'].numpy()
    np.testing.assert_allclose(y1[0, :4], y2[0, :4], rtol=1e-6)
    assert not np.allclose(y1[0, 4:], y2[0, 4:])


def test_stateless_decoder_carries_state_and_matches_the_stateful_one():
    kwargs = dict(rnn_channels=8, ch=6, layers_per_stack=1, input_keys=('pw_scaled', 'f0_scaled'))
    stateful = decoders.RnnFcDecoder(**kwargs)
    stateless = decoders.RnnFcDecoder(stateless=True, **kwargs)
    features = {
        'pw_scaled': tf.random.stateless_uniform([1, 12, 1], seed=[0, 1]),
        'f0_scaled': tf.random.stateless_uniform([1, 12, 1], seed=[0, 2]),
    }
    expected = stateful(features)
    stateless(dict(features, state=tf.zeros([1, 8])))
    stateless.set_weights(stateful.get_weights())  # same layers, same order: checkpoints carry over
    assert stateless.input_keys == ['pw_scaled', 'f0_scaled', 'state']
    state = tf.zeros([1, 8])
    for t in range(12):
        out = stateless({k: v[:, t : t + 1] for k, v in features.items()} | {'state': state})
        state = out['state']
        for key in ('amps', 'harmonic_distribution'):
            np.testing.assert_allclose(out[key][:, 0], expected[key][:, t], atol=1e-5)
    assert state.shape == (1, 8)


def test_dilated_conv_decoder_is_conditioned_on_z_and_upsamples():
    rng = np.random.default_rng(0)
    features = {
        'ld_scaled': rng.uniform(size=[2, 20, 1]).astype(np.float32),
        'f0_scaled': rng.uniform(size=[2, 20, 1]).astype(np.float32),
        'z': rng.normal(size=[2, 20, 4]).astype(np.float32),
    }
    decoder = decoders.DilatedConvDecoder(
        ch=8, layers_per_stack=2, stacks=1, output_splits=(('amps', 1), ('hd', 3))
    )
    out = decoder(features)
    assert {k: v.shape for k, v in out.items()} == {'amps': (2, 20, 1), 'hd': (2, 20, 3)}
    other_z = decoder(dict(features, z=features['z'] + 1.0))
    assert not np.allclose(out['hd'], other_z['hd'])  # z scales and shifts every layer
    up = decoders.DilatedConvDecoder(
        ch=8, layers_per_stack=1, stacks=2, resample_stride=2, conditioning_keys=None
    )
    assert up(features)['amps'].shape == (2, 80, 1)


def test_dilated_conv_decoder_refuses_a_precondition_stack_without_z():
    import pytest

    with pytest.raises(ValueError, match='precondition_stack needs conditioning_keys'):
        decoders.DilatedConvDecoder(conditioning_keys=None, precondition_stack=tf.keras.layers.Dense(3))
