"""RnnFcDecoder: the write-up's decoder has 4,801,150 parameters; outputs follow output_splits."""

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
    # The write-up's log: rnn_fc_decoder (RnnFcDecoder) 4801150.
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
