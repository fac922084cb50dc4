"""Every gin recipe builds and takes a training step with shrunk sizes; the parameter count of the
DDSP clarinet experiments write-up (README).
"""

import pathlib

import gin
import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import gin_config, models, train_util, trainers
from tests.training import tiny

GIN_DIR = pathlib.Path(gin_config.get_gin_dir())
# Every recipe that defines a model: models/, papers/ and any other folder but the partial configs.
MODEL_RECIPES = sorted(
    str(p.relative_to(GIN_DIR))
    for p in GIN_DIR.rglob('*.gin')
    if p.relative_to(GIN_DIR).parts[0] not in ('datasets', 'eval', 'optimization')
)


@pytest.fixture(autouse=True)
def _clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def test_solo_instrument_has_4849150_trainable_parameters(tmp_path):
    gin_config.parse_gin(str(tmp_path), ['models/solo_instrument.gin'], [], [])
    model = models.get_model()
    batch = {
        'audio': tf.zeros([1, 64000]),
        'f0_hz': tf.fill([1, 1000], 440.0),
        'loudness_db': tf.fill([1, 1000], -30.0),
    }
    model(batch, training=False)
    count = lambda layer: int(sum(np.prod(w.shape) for w in layer.trainable_weights))
    # The DDSP clarinet experiments write-up's log: RnnFcDecoder 4801150, ProcessorGroup 48000 (the reverb),
    # 4,849,150 in all.
    assert count(model.decoder) == 4_801_150
    assert count(model.processor_group) == 48_000
    assert train_util.log_model_summary(model) == 4_849_150


def test_recipe_list_covers_the_ddsp_tree():
    assert {
        'models/ae.gin',
        'models/solo_instrument.gin',
        'papers/iclr2020/solo_instrument.gin',
        'papers/iclr2020/tiny_instrument.gin',
        'models/vst/vst.gin',
        'models/vst/vst_32k.gin',
        'models/vst/vst_48k.gin',
    } <= set(MODEL_RECIPES)


def test_vst_has_ddsps_1889278_trainable_parameters(tmp_path):
    # ddsp 3.7.0's models/vst/vst.gin built in the reference environment: 1,889,278, in the same order
    # and shapes (two Fc stacks of 1 -> 256, GRU 512 -> 512, Fc 1024 -> 256, Dense 256 -> 126,
    # reverb magnitudes 500 x 32).
    gin_config.parse_gin(str(tmp_path), ['models/vst/vst.gin'], [], [])
    model = models.get_model()
    batch = {
        'audio': tf.zeros([1, 64000]),
        'f0_hz': tf.fill([1, 201], 440.0),
        'f0_confidence': tf.ones([1, 201]),
    }
    outputs = model(batch, training=False)
    assert outputs['audio_synth'].shape == (1, 64000)  # 201 hops synthesised, the last cropped
    assert [tuple(v.shape) for v in model.trainable_variables] == [
        (1, 256), (256,), (256,), (256,), (1, 256), (256,), (256,), (256,),
        (512, 1536), (512, 1536), (2, 1536),
        (1024, 256), (256,), (256,), (256,), (256, 126), (126,), (500, 32),
    ]  # fmt: skip
    assert train_util.log_model_summary(model) == 1_889_278


def _recipe_data(recipe: str, tmp_path) -> tuple[str, list[str]]:
    """(TFRecord glob, shrinking bindings) for a recipe: the VST recipes read 50 Hz centred frames."""
    data = str(tmp_path / 'data' / 'train.tfrecord')
    if recipe.startswith('models/vst/'):
        sample_rate = {'vst.gin': 16000, 'vst_32k.gin': 32000, 'vst_48k.gin': 48000}[recipe.split('/')[-1]]
        return tiny.write_vst_tfrecords(data, sample_rate), tiny.vst_shrink_params(sample_rate)
    return tiny.write_tfrecords(data, n_examples=2, n_shards=1), tiny.SHRINK_PARAMS


# Recipes whose model another fast-tier recipe already builds (another sample rate, or the same model with
# the paper's eval settings) take their step in the slow tier only.
_SLOW_RECIPES = {'models/vst/vst_32k.gin', 'models/vst/vst_48k.gin', 'papers/iclr2020/solo_instrument.gin'}


@pytest.mark.parametrize(
    'recipe', [pytest.param(r, marks=pytest.mark.slow) if r in _SLOW_RECIPES else r for r in MODEL_RECIPES]
)
def test_recipe_builds_and_takes_a_training_step(recipe, tmp_path):
    pattern, shrink = _recipe_data(recipe, tmp_path)
    files = [recipe] if recipe.startswith('papers') else ['datasets/tfrecord.gin', recipe]
    gin_config.parse_gin(
        str(tmp_path / 'run'),
        files,
        shrink + [f"TFRecordProvider.file_pattern = '{pattern}'"],
        [],
    )
    model = models.get_model()
    trainer = trainers.Trainer(model)
    losses = train_util.train(
        data_provider=gin.REQUIRED,
        trainer=trainer,
        save_dir=str(tmp_path / 'run'),
        restore_dir=str(tmp_path / 'run'),
    )
    assert int(trainer.step.numpy()) == 1
    assert np.isfinite(losses['total_loss']) and losses['total_loss'] > 0
    assert (tmp_path / 'run' / 'ckpt-1.index').exists()
    assert (tmp_path / 'run' / 'operative_config-0.gin').exists()
    if recipe.startswith('papers'):
        classes = _evaluators('evaluate.evaluator_classes')
        assert [c.selector.split('.')[-1] for c in classes] == ['BasicEvaluator', 'F0LdEvaluator']


def _evaluators(key):
    """The evaluator references bound to key, through the %evaluators macro."""
    value = gin.query_parameter(key)
    if not isinstance(value, (list, tuple)):
        # %evaluators (not the seed's %evalautors typo).
        assert value.scoped_selector == 'evaluators/gin.macro'
        value = gin.query_parameter('%evaluators')
    return list(value)


@pytest.mark.parametrize(
    'eval_recipe,names',
    [('eval/basic.gin', ['BasicEvaluator']), ('eval/basic_f0_ld.gin', ['BasicEvaluator', 'F0LdEvaluator'])],
)
def test_eval_recipes_name_existing_evaluators(eval_recipe, names, tmp_path):
    gin_config.parse_gin(str(tmp_path), [eval_recipe], [], [])
    for key in ('evaluate.evaluator_classes', 'sample.evaluator_classes'):
        refs = _evaluators(key)
        assert [r.selector.split('.')[-1] for r in refs] == names
        for ref in refs:  # The references resolve to registered evaluator classes.
            assert isinstance(ref.scoped_configurable_fn, type) or callable(ref.scoped_configurable_fn)


@pytest.mark.slow
def test_vst_trains_on_tfrecords_prepared_with_the_train_vst_colabs_flags(tmp_path):
    """The Train VST colab's data and training flags (frame rate 50, centred frames, 4 s examples)."""
    from absl import flags

    from clarinet_ddsp.cli import prepare_tfrecord
    from tests.data_prep import audio_files

    for i, f0 in enumerate((196.0, 294.0)):
        audio_files.write_tone(str(tmp_path / f'note{i}.wav'), f0, 5.0)
    data = tmp_path / 'data'
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(
            [
                'clarinet_ddsp_prepare_tfrecord',
                f'--input_audio_filepatterns={tmp_path}/*',
                f'--output_tfrecord_path={data}/train.tfrecord',
                # The colab's prepare_dataset() flags, verbatim:
                '--num_shards=10',
                '--sample_rate=16000',
                '--frame_rate=50',
                '--example_secs=4.0',
                '--hop_secs=1.0',
                '--viterbi=True',
                '--center=True',
                # Tiny CREPE and one in-process worker, for the test's time.
                '--crepe_model=tiny',
                '--pipeline_options=' + ','.join(audio_files.IN_MEMORY),
            ]
        )
        prepare_tfrecord.main(['clarinet_ddsp_prepare_tfrecord'])
    finally:
        flags.FLAGS.unparse_flags()

    # The colab's train() bindings (batch size and steps shrunk), on the real 4 s examples.
    gin_config.parse_gin(
        str(tmp_path / 'run'),
        ['models/vst/vst.gin', 'datasets/tfrecord.gin'],
        [
            f"TFRecordProvider.file_pattern = '{data}/train.tfrecord*'",
            'TFRecordProvider.centered = True',
            'TFRecordProvider.frame_rate = 50',
            'batch_size = 2',
            'train_util.train.num_steps = 1',
            'train_util.train.steps_per_save = 1',
            'RnnFcDecoder.rnn_channels = 16',
            'RnnFcDecoder.ch = 16',
        ],
        [],
    )
    model = models.get_model()
    trainer = trainers.Trainer(model)
    losses = train_util.train(
        data_provider=gin.REQUIRED,
        trainer=trainer,
        save_dir=str(tmp_path / 'run'),
        restore_dir=str(tmp_path / 'run'),
    )
    assert int(trainer.step.numpy()) == 1
    assert np.isfinite(losses['total_loss']) and losses['total_loss'] > 0
    batch = next(iter(gin.query_parameter('train.data_provider').scoped_configurable_fn().get_batch(2)))
    assert batch['f0_hz'].shape == (2, 201) and batch['audio'].shape == (2, 64000)  # 4 s, 50 Hz + 1
    f0 = np.median(batch['f0_hz'].numpy(), axis=1)
    assert all(np.min(np.abs(1200 * np.log2(f / np.array([196.0, 294.0])))) < 30 for f in f0)
