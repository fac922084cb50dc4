"""Checkpoints in magenta/ddsp's (tf.keras) layout load into our Keras 3 models, or name what does not fit.

The checkpoints here are written in tf.keras's layout by hand (ddsp's paths: an `input_stacks` list,
Sequential's `layer_with_weights-N`, `kernel`) with known values; the parity tier loads checkpoints ddsp
3.7.0 itself trained (tests/parity/test_ddsp_runs.py).
"""

import re

import gin
import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import ddsp_checkpoint, gin_config, models, trainers
from tests.training import tiny

# Our object paths -> ddsp's (tf.keras) ones, for the solo_instrument model.
_TO_DDSP = [
    (r'/input_stack_(\d+)/', r'/input_stacks/\1/'),
    (r'/fc_(\d+)/', r'/layer_with_weights-\1/'),
    (r'/dense/', '/layer_with_weights-0/'),
    (r'/norm/', '/layer_with_weights-1/'),
    (r'/_(kernel|ir)$', r'/\1'),
]


def ddsp_path(our_path: str) -> str:
    for pattern, replacement in _TO_DDSP:
        our_path = re.sub(pattern, replacement, our_path)
    return our_path


@pytest.fixture
def model_and_trainer(tmp_path):
    gin.clear_config()
    gin_config.parse_gin(str(tmp_path), ['models/solo_instrument.gin'], tiny.SHRINK_PARAMS, [])
    model = models.get_model()
    trainer = trainers.Trainer(model)
    batch = {k: v[np.newaxis] for k, v in tiny.make_example().items()}
    trainer.build(batch)
    yield model, trainer
    gin.clear_config()


def _node(root, path):
    node = root
    for name in path.split('/'):
        if not hasattr(node, name):
            setattr(node, name, tf.train.Checkpoint())
        node = getattr(node, name)
    return node


def write_ddsp_layout(prefix, model, values, slots=None, step=0, edit=None):
    """A checkpoint of `values` (one per model weight) under ddsp's paths, in creation order, with a
    tf.keras (TF >= 2.11) Adam: optimizer/_iterations and optimizer/_variables [step, m0, v0, ...]."""
    root = tf.train.Checkpoint()
    paths = ddsp_checkpoint.our_variable_paths(model)
    entries = [(ddsp_path(paths[id(v)]), value) for v, value in zip(model.weights, values)]
    if edit:
        entries = edit(entries)
    for path, value in entries:
        parent, leaf = path.rsplit('/', 1)
        setattr(_node(root, parent), leaf, tf.Variable(value))
    if slots is not None:
        iterations = tf.Variable(np.int64(step))
        optimizer = _node(root, 'optimizer')
        optimizer._iterations = iterations
        listed = [iterations] + [tf.Variable(s) for pair in slots for s in pair]
        optimizer._variables = listed
    return root.write(prefix)


def _random_values(model, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(v.shape).astype(np.float32) for v in model.weights]


def test_ddsp_layout_restores_weights_adam_moments_and_step(model_and_trainer, tmp_path):
    model, trainer = model_and_trainer
    values = _random_values(model)
    slots = [(v * 0.1, np.abs(v) * 0.01) for v in _random_values(model, seed=1)]
    prefix = write_ddsp_layout(str(tmp_path / 'ckpt-7'), model, values, slots, step=7)
    assert ddsp_checkpoint.is_ddsp_checkpoint(prefix) and not ddsp_checkpoint.fits_natively(prefix, model)

    summary = ddsp_checkpoint.restore(model, prefix, optimizer=trainer.optimizer)
    assert summary.n_variables == len(model.weights) and summary.step == 7
    for variable, value in zip(model.weights, values):
        np.testing.assert_array_equal(variable.numpy(), value)
    for t, (m, v) in enumerate(slots):
        np.testing.assert_array_equal(trainer.optimizer._momentums[t].numpy(), m)
        np.testing.assert_array_equal(trainer.optimizer._velocities[t].numpy(), v)
    assert int(trainer.step) == 7


def test_our_own_checkpoints_are_not_taken_for_ddsps(model_and_trainer, tmp_path):
    model, trainer = model_and_trainer
    prefix = trainer.get_checkpoint().write(str(tmp_path / 'ckpt-0'))
    assert not ddsp_checkpoint.is_ddsp_checkpoint(prefix)
    assert ddsp_checkpoint.fits_natively(prefix, model)


def test_optimizer_that_does_not_map_starts_fresh_and_says_so(model_and_trainer, tmp_path, caplog):
    model, trainer = model_and_trainer
    values = _random_values(model)
    slots = [(v, v) for v in _random_values(model)[:-1]]  # one variable's moments short
    prefix = write_ddsp_layout(str(tmp_path / 'ckpt-3'), model, values, slots, step=3)
    summary = ddsp_checkpoint.restore(model, prefix, optimizer=trainer.optimizer)
    assert summary.step is None and 'starts fresh at step 0' in summary.optimizer
    assert int(trainer.step) == 0
    np.testing.assert_array_equal(model.weights[0].numpy(), values[0])


def test_misshapen_and_missing_variables_are_named(model_and_trainer, tmp_path):
    model, _ = model_and_trainer
    values = _random_values(model)

    def edit(entries):
        path, value = entries[0]
        entries[0] = (path, np.zeros([value.shape[0] + 1, *value.shape[1:]], np.float32))
        return entries[:-1]  # no reverb IR

    prefix = write_ddsp_layout(str(tmp_path / 'ckpt-1'), model, values, edit=edit)
    with pytest.raises(ddsp_checkpoint.CheckpointMismatchError) as info:
        ddsp_checkpoint.restore(model, prefix)
    message = str(info.value)
    first_kernel = tuple(model.weights[0].shape)
    assert (
        'misshapen: model/decoder/input_stacks/0/layer_with_weights-0/layer_with_weights-0/kernel '
        f'[{first_kernel[0] + 1}, {first_kernel[1]}] in the checkpoint, '
        f'model/decoder/input_stack_0/fc_0/dense/_kernel [{first_kernel[0]}, {first_kernel[1]}] in the model'
    ) in message
    assert (
        f'missing from the checkpoint: model/processor_group/reverb/_ir [{tiny_reverb_length()}]' in message
    )
    assert message.startswith(f'{prefix}: this ddsp checkpoint does not fit the model (2 difference(s))')


def tiny_reverb_length() -> int:
    (binding,) = [p for p in tiny.SHRINK_PARAMS if p.startswith('Reverb.reverb_length')]
    return int(binding.split('=')[1])


def test_trainer_restore_and_model_restore_read_the_ddsp_layout(model_and_trainer, tmp_path):
    model, trainer = model_and_trainer
    values = _random_values(model, seed=2)
    slots = [(v, np.abs(v)) for v in _random_values(model, seed=3)]
    write_ddsp_layout(str(tmp_path / 'ckpt-5'), model, values, slots, step=5)
    assert trainer.restore(str(tmp_path)) == str(tmp_path / 'ckpt-5')  # the newest in the folder
    assert int(trainer.step) == 5
    np.testing.assert_array_equal(model.weights[-1].numpy(), values[-1])
    model.weights[-1].assign(np.zeros(model.weights[-1].shape, np.float32))
    model.restore(str(tmp_path / 'ckpt-5'))  # what eval, sample, resynth and export call
    np.testing.assert_array_equal(model.weights[-1].numpy(), values[-1])
