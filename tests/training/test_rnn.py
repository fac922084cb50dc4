"""The fast GRU/LSTM match keras.layers.GRU/LSTM: weights, outputs, gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import rnn

# Fused matmuls (and XLA) vs Keras's step loop: the same float32 maths summed in other orders. Measured
# relative L2 errors of outputs and gradients <= 4e-7 over 37 steps with AVX-512, AVX2, SSE4.1 and Eigen
# kernels; 1e-5 leaves 25x for other CPUs while a wrong gate or bias gives O(1).
RTOL = 1e-5


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _pair(kind: str, units: int, in_shape, seed: int = 0, **kwargs):
    """(Keras layer, our layer) built on in_shape with identical random weights."""
    reference = {'gru': keras.layers.GRU, 'lstm': keras.layers.LSTM}[kind](
        units, return_sequences=True, **kwargs
    )
    fast = rnn.get_rnn_class(kind)(units, return_sequences=True, **kwargs)
    reference.build(in_shape)
    fast.build(in_shape)
    rng = np.random.default_rng(seed)
    # Non-zero biases so every gradient path is exercised.
    weights = [rng.normal(scale=0.3, size=w.shape).astype(np.float32) for w in reference.get_weights()]
    reference.set_weights(weights)
    fast.set_weights(weights)
    return reference, fast


def _forward_and_grads(layer, x, initial_state=None):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        if initial_state is not None:
            initial_state = [tf.constant(s) for s in initial_state]
            tape.watch(initial_state)
            y = layer(x, initial_state=initial_state)
        else:
            y = layer(x)
        # A loss whose gradient differs per element and per timestep.
        weights = tf.sin(tf.reshape(tf.range(tf.size(y), dtype=tf.float32), y.shape))
        loss = tf.reduce_sum(weights * y + 0.5 * tf.square(y))
    sources = [x] + list(initial_state or []) + list(layer.trainable_variables)
    return y.numpy(), [g.numpy() for g in tape.gradient(loss, sources)]


@pytest.mark.parametrize('kind', ['gru', 'lstm'])
@pytest.mark.parametrize('jit', [True, False])
def test_fast_rnn_matches_keras_outputs_and_gradients(kind, jit):
    rnn.set_jit_compile(jit)
    try:
        x = np.random.default_rng(1).normal(size=(3, 37, 5)).astype(np.float32)
        reference, fast = _pair(kind, 8, x.shape)
        y_ref, g_ref = _forward_and_grads(reference, x)
        y_fast, g_fast = _forward_and_grads(fast, x)
    finally:
        rnn.set_jit_compile(True)
    assert y_fast.shape == y_ref.shape == (3, 37, 8)
    assert _rel(y_fast, y_ref) < RTOL
    names = ['inputs'] + [v.path for v in reference.trainable_variables]
    for name, a, b in zip(names, g_fast, g_ref):
        assert a.shape == b.shape, name
        assert _rel(a, b) < RTOL, (name, _rel(a, b))


@pytest.mark.parametrize('kind', ['gru', 'lstm'])
def test_fast_rnn_initial_state_gradient_matches_keras(kind):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 11, 4)).astype(np.float32)
    n_states = 1 if kind == 'gru' else 2
    states = [rng.normal(size=(2, 6)).astype(np.float32) for _ in range(n_states)]
    reference, fast = _pair(kind, 6, x.shape, seed=3)
    y_ref, g_ref = _forward_and_grads(reference, x, states)
    y_fast, g_fast = _forward_and_grads(fast, x, states)
    assert _rel(y_fast, y_ref) < RTOL
    for a, b in zip(g_fast, g_ref):
        assert _rel(a, b) < RTOL


def test_fast_gru_takes_its_own_path_not_keras_loop(monkeypatch):
    x = np.random.default_rng(4).normal(size=(2, 9, 3)).astype(np.float32)
    reference, fast = _pair('gru', 4, x.shape)
    y_ref = reference(x).numpy()

    def fail(*args, **kwargs):
        raise AssertionError('Keras time loop used')

    monkeypatch.setattr(keras.layers.GRU, 'inner_loop', fail)
    assert _rel(fast(x).numpy(), y_ref) < RTOL


def test_fast_gru_falls_back_to_keras_with_a_mask():
    x = np.random.default_rng(5).normal(size=(2, 7, 3)).astype(np.float32)
    mask = np.array([[True] * 7, [True] * 4 + [False] * 3])
    reference, fast = _pair('gru', 4, x.shape)
    assert _rel(fast(x, mask=mask).numpy(), reference(x, mask=mask).numpy()) < RTOL


def test_fast_gru_has_keras_parameter_shapes_names_and_count():
    # The solo_instrument decoder's GRU: 2 stacks of 512 in, 512 units.
    reference = keras.layers.GRU(512, return_sequences=True)
    fast = rnn.GRU(512, return_sequences=True)
    reference.build((None, None, 1024))
    fast.build((None, None, 1024))
    ref_vars = {v.path.split('/', 1)[1]: tuple(v.shape) for v in reference.weights}
    fast_vars = {v.path.split('/', 1)[1]: tuple(v.shape) for v in fast.weights}
    assert (
        fast_vars
        == ref_vars
        == {
            'gru_cell/kernel': (1024, 1536),
            'gru_cell/recurrent_kernel': (512, 1536),
            'gru_cell/bias': (2, 1536),
        }
    )
    # 3 gates x 512 x (1024 + 512) + 2 x 3 x 512 biases.
    assert fast.count_params() == reference.count_params() == 2_362_368


def test_keras_gru_checkpoint_restores_into_fast_gru(tmp_path):
    x = np.random.default_rng(6).normal(size=(1, 5, 3)).astype(np.float32)
    reference, _ = _pair('gru', 4, x.shape)
    path = tf.train.Checkpoint(rnn=reference).save(str(tmp_path / 'ckpt'))
    fast = rnn.GRU(4, return_sequences=True)
    fast.build(x.shape)
    tf.train.Checkpoint(rnn=fast).restore(path).assert_existing_objects_matched()
    assert _rel(fast(x).numpy(), reference(x).numpy()) < RTOL


def test_fast_gru_runs_in_a_function_with_unknown_batch_and_time():
    x = np.random.default_rng(7).normal(size=(3, 13, 5)).astype(np.float32)
    reference, fast = _pair('gru', 8, x.shape)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 5], tf.float32)])
    def grads(inputs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(fast(inputs)))
        return tape.gradient(loss, fast.trainable_variables)

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(reference(x)))
    expected = tape.gradient(loss, reference.trainable_variables)
    for a, b in zip(grads(x), expected):
        assert _rel(a.numpy(), b.numpy()) < RTOL


@pytest.mark.parametrize('kind', ['gru', 'lstm'])
def test_fast_rnn_keeps_static_shapes_in_a_function(kind):
    layer = rnn.get_rnn_class(kind)(8, return_sequences=True)
    shapes = []

    @tf.function(input_signature=[tf.TensorSpec([2, 32, 5], tf.float32)])
    def forward(inputs):
        outputs = layer(inputs)
        shapes.append(outputs.shape)  # Static shape, seen while tracing.
        return outputs

    forward(tf.zeros([2, 32, 5]))
    assert shapes[0].as_list() == [2, 32, 8]


def test_fast_gru_saved_model_round_trip_any_length(tmp_path):
    x = np.random.default_rng(8).normal(size=(2, 17, 3)).astype(np.float32)
    reference, fast = _pair('gru', 8, x.shape)
    module = tf.Module()
    module.layer = fast
    module.forward = tf.function(fast, input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    module.forward(x)
    tf.saved_model.save(module, str(tmp_path / 'gru'))
    loaded = tf.saved_model.load(str(tmp_path / 'gru'))
    assert _rel(loaded.forward(x).numpy(), reference(x).numpy()) < RTOL
    assert loaded.forward(x[:1, :5]).shape == (1, 5, 8)


def test_get_rnn_class_rejects_unknown_type_by_name():
    with pytest.raises(ValueError, match="rnn_type='rnn'"):
        rnn.get_rnn_class('rnn')
