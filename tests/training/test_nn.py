"""nn: Fc stacks compute Dense -> LayerNorm -> leaky ReLU; split_to_dict; the Rnn wrapper."""

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import nn


def _numpy_fc(x, kernel, bias, gamma, beta, eps=1e-3):
    y = x @ kernel + bias
    mean = y.mean(-1, keepdims=True)
    var = y.var(-1, keepdims=True)
    y = (y - mean) / np.sqrt(var + eps) * gamma + beta
    return np.where(y > 0, y, 0.2 * y)


def test_fc_stack_matches_numpy_dense_layernorm_leaky_relu():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    stack = nn.FcStack(ch=4, layers=2)
    got = stack(x).numpy()
    expected = x
    for fc in stack.fcs:
        kernel, bias = [w.numpy() for w in fc.dense.weights]
        gamma, beta = [w.numpy() for w in fc.norm.weights]
        expected = _numpy_fc(expected, kernel, bias, gamma, beta)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # Two Fc layers: (3*4+4 + 2*4) + (4*4+4 + 2*4) parameters.
    assert sum(int(np.prod(w.shape)) for w in stack.trainable_weights) == 24 + 28


def test_split_to_dict_splits_last_axis_in_order():
    x = tf.reshape(tf.range(12.0), [1, 2, 6])
    out = nn.split_to_dict(x, (('a', 1), ('b', 2), ('c', 3)))
    np.testing.assert_array_equal(out['a'].numpy()[0, :, 0], [0, 6])
    np.testing.assert_array_equal(out['c'].numpy()[0, 1], [9, 10, 11])


@pytest.mark.parametrize(
    'rnn_type,n_params', [('gru', 3 * (3 * 4 + 4 * 4 + 2 * 4)), ('lstm', 4 * (3 * 4 + 4 * 4 + 4))]
)
def test_rnn_wrapper_has_keras_parameter_counts(rnn_type, n_params):
    rnn = nn.Rnn(4, rnn_type)
    y = rnn(tf.zeros([2, 7, 3]))
    assert y.shape == (2, 7, 4)
    assert sum(int(np.prod(w.shape)) for w in rnn.trainable_weights) == n_params


def test_rnn_rejects_unknown_type_naming_it():
    with pytest.raises(ValueError, match="rnn_type='rnn'"):
        nn.Rnn(4, 'rnn')


def test_fast_rnn_has_the_same_weights_and_outputs_as_keras():
    x = tf.random.stateless_normal([2, 9, 3], seed=[1, 2])
    slow, fast = nn.Rnn(4, 'gru', fast=False), nn.Rnn(4, 'gru', fast=True)
    slow(x)
    fast(x)
    assert [tuple(w.shape) for w in slow.weights] == [tuple(w.shape) for w in fast.weights]
    for a, b in zip(slow.weights, fast.weights):
        b.assign(a)
    np.testing.assert_allclose(slow(x).numpy(), fast(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('rnn_type', ['gru', 'lstm'])
def test_stateless_rnn_one_frame_at_a_time_equals_the_whole_sequence(rnn_type):
    rnn = nn.StatelessRnn(6, rnn_type)
    x = tf.random.stateless_normal([2, 9, 4], seed=[1, 2])
    state_size = 12 if rnn_type == 'lstm' else 6
    state0 = tf.random.stateless_normal([2, state_size], seed=[3, 4])
    y, state = rnn(x, state0)
    # The one-frame path (the recurrent cell, no loop) carried over 9 frames gives the same outputs.
    s = state0
    steps = []
    for t in range(9):
        y_t, s = rnn(x[:, t : t + 1], s)
        steps.append(y_t)
    np.testing.assert_allclose(tf.concat(steps, axis=1), y, atol=1e-5)
    np.testing.assert_allclose(s, state, atol=1e-5)
    # And the state is the GRU's (LSTM's) own: the last output (h then c).
    np.testing.assert_allclose(state[:, :6], y[:, -1], atol=1e-6)


def test_ddsps_other_nn_names_resolve_and_are_registered_with_gin():
    import gin

    for name in (
        'ResNet',
        'DilatedConvStack',
        'ConditionalNorm',
        'VectorQuantization',
        'RnnSandwich',
        'Identity',
    ):
        assert issubclass(gin.get_configurable(f'nn.{name}'), getattr(nn, name))
    for name in ('get_note_mask', 'pool_over_notes', 'polyphase_resample', 'straight_through_softmax'):
        assert callable(getattr(nn, name))
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchLayer'"):
        nn.NoSuchLayer  # noqa: B018
    gin.clear_config()
    gin.parse_config('tf.keras.layers.Dense.units = 3\nnn.Dense.units = 4')
    try:
        assert gin.get_configurable('tf.keras.layers.Dense')().units == 3
        assert gin.get_configurable('nn.Dense')().units == 4
    finally:
        gin.clear_config()


def test_an_operative_config_saved_before_the_keras_layers_were_registered_still_parses():
    import gin

    from clarinet_ddsp import processors

    gin.clear_config()
    try:
        gin.parse_config("Add.name = 'add'\nLayerNormalization.epsilon = 0.01")  # 'Add': processors.Add
        assert gin.get_configurable('Add') is gin.get_configurable('processors.Add')
        assert issubclass(gin.get_configurable('Add'), processors.Add)
    finally:
        gin.clear_config()


def test_polyphase_resample_down_then_up_restores_the_signal():
    x = np.random.default_rng(0).normal(size=[2, 12, 5]).astype(np.float32)
    down = nn.polyphase_resample(x, stride=3)
    assert down.shape == (2, 4, 15)
    np.testing.assert_array_equal(down.numpy()[:, 1, :5], x[:, 3])  # frame 3 leads the second group
    np.testing.assert_array_equal(nn.polyphase_resample(down, stride=3, resample_type='up').numpy(), x)
    with pytest.raises(ValueError, match="resample_type='sideways' must be 'down' or 'up'"):
        nn.polyphase_resample(x, resample_type='sideways')


def test_note_mask_opens_a_region_at_each_change_and_drops_rests():
    q = np.array([[0, 60, 60, 62, 62, 62, 0, 64]], np.float32)
    mask = nn.get_note_mask(q, max_regions=5)
    # Regions: [0] rest, [1, 2] 60, [3, 4, 5] 62, [6, 7] (the change at the last frame opens none, as
    # ddsp, so the rest and the 64 share a region whose mean pitch, 32, counts as a note).
    expected = np.zeros([8, 5], np.float32)
    expected[1:3, 1] = expected[3:6, 2] = expected[6:8, 3] = 1.0
    np.testing.assert_array_equal(mask.numpy()[0], expected)
    lengths = nn.get_note_lengths(mask).numpy()[0]
    np.testing.assert_array_equal(lengths, [0, 2, 3, 2, 0])
    x = np.arange(8, dtype=np.float32)[np.newaxis, :, np.newaxis]
    mean, std = nn.get_note_moments(x, mask)
    np.testing.assert_allclose(mean.numpy()[0, 1:3, 0], [1.5, 4.0])
    np.testing.assert_allclose(std.numpy()[0, 1:3, 0], [0.5, np.std([3, 4, 5])], rtol=1e-6)
    pooled = nn.pool_over_notes(x, mask, return_std=False).numpy()[0, :, 0]
    np.testing.assert_allclose(pooled, [0, 1.5, 1.5, 4, 4, 4, 6.5, 6.5])


def test_straight_through_estimators_round_forward_and_pass_gradients():
    x = tf.constant([0.4, 1.6, -2.5])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = nn.straight_through_int_quantization(x)
    np.testing.assert_array_equal(y.numpy(), np.round([0.4, 1.6, -2.5]))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1.0, 1.0, 1.0])
    sample, probs = nn.straight_through_softmax(tf.constant([[0.0, 50.0, 0.0]]))
    np.testing.assert_allclose(sample.numpy(), [[0, 1, 0]], atol=1e-6)
    np.testing.assert_allclose(nn.straight_through_choice(tf.constant([[50.0, 0.0]]), [[2.0, 7.0]]), [[2.0]])


def test_vector_quantization_snaps_to_centroids_and_follows_their_moving_average():
    vq = nn.VectorQuantization(k=2, gamma=0.5)
    x = np.array([[[0.9, 0.0], [0.0, 2.1]]], np.float32)
    vq(x)
    vq.set_weights([np.array([1.0, 1.0], np.float32), np.array([[1.0, 0.0], [0.0, 2.0]], np.float32)])
    z, codes = vq(x, training=False)
    np.testing.assert_allclose(z.numpy(), [[[1.0, 0.0], [0.0, 2.0]]])
    np.testing.assert_array_equal(codes.numpy(), [[[0], [1]]])
    vq(x, training=True)  # counts -> 0.5 * 1 + 0.5 * 1; sums -> 0.5 * old + 0.5 * assigned vectors
    np.testing.assert_allclose(vq.get_weights()[1], [[0.95, 0.0], [0.0, 2.05]], rtol=1e-6)


def test_rnn_fc_builds_what_its_arguments_say():
    # ddsp passes bidir in return_sequences' place; here n_rnn stacked (bidirectional) RNNs over time.
    layer = nn.RnnFc(4, 3, rnn_type='gru', bidir=True, n_rnn=2)
    out = layer(np.zeros([2, 7, 5], np.float32))
    assert out.shape == (2, 7, 3)
    assert isinstance(layer.sublayers[0].rnn, tf.keras.layers.Bidirectional)


def test_dilated_conv_stack_and_resnet_keep_every_weight_in_checkpoints(tmp_path):
    stack = nn.DilatedConvStack(
        ch=4, layers_per_stack=2, stacks=2, norm_type='layer', resample_type='downsample', resample_stride=2
    )
    out = stack(np.zeros([1, 16, 3], np.float32))
    assert out.shape == (1, 4, 4)  # two downsampling layers of stride 2
    path = tf.train.Checkpoint(layer=stack).save(str(tmp_path / 'ckpt'))
    saved = [name for name, _ in tf.train.list_variables(path) if name.startswith('layer/')]
    assert len(saved) == len(stack.weights) == 2 + 4 * (2 + 2) + 2 * 2
    with pytest.raises(ValueError, match="ResNet: size='tiny' is not one of"):
        nn.ResNet(size='tiny')
    with pytest.raises(ValueError, match="norm_type='batch' is not one of"):
        nn.normalize_op(tf.zeros([1, 2, 1, 3]), norm_type='batch')
