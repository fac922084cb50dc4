"""Every gin file of ddsp 3.7.0, verbatim, either works or fails with one line naming what is not
supported.

The files are copied from the reference install at test time (not vendored) and stand in for our whole
gin tree (CLARINET_DDSP_GIN_PATH), so their includes and the defaults ddsp_run parses first
(optimization/base.gin, eval/basic.gin) are ddsp's too, `import ddsp...` lines included. A file works when
it parses in clarinet_ddsp_run's order and what it configures is built: the model (shrunk) runs a forward
pass, the evaluators resolve to classes, a TFRecordProvider reads a batch. The end of the run prints the
table (file, works / the message); it is also written to <basetemp>/ddsp_gin_files.txt.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest

from .conftest import reference_python

pytestmark = [pytest.mark.parity]

DDSP_GIN_FILES = (
    'datasets/base.gin',
    'datasets/nsynth.gin',
    'datasets/tfrecord.gin',
    'eval/basic.gin',
    'eval/basic_f0_ld.gin',
    'eval/basic_f0_ld_twm.gin',
    'eval/heuristic.gin',
    'eval/heuristic_power.gin',
    'eval/midi_ae.gin',
    'models/ae.gin',
    'models/solo_instrument.gin',
    'models/vst/vst.gin',
    'models/vst/vst_32k.gin',
    'models/vst/vst_48k.gin',
    'optimization/base.gin',
    'optimization/base_tpu.gin',
    'papers/iclr2020/nsynth_ae.gin',
    'papers/iclr2020/solo_instrument.gin',
    'papers/iclr2020/tiny_instrument.gin',
    'papers/icml2020/finetune_dataset.gin',
    'papers/icml2020/finetune_model.gin',
    'papers/icml2020/pretrain_dataset.gin',
    'papers/icml2020/pretrain_model.gin',
)

# What each file that does not work here lacks: the name its one-line message must give. A file that
# starts working fails its test until it is taken off this list.
NOT_SUPPORTED = {
    'datasets/nsynth.gin': 'data.NSynthTfds',
    'eval/heuristic.gin': 'segment_notes_batch',
    'eval/heuristic_power.gin': 'segment_notes_batch',
    'eval/midi_ae.gin': 'MidiAutoencoderEvaluator',
    'papers/iclr2020/nsynth_ae.gin': 'data.NSynthTfds',
    'papers/icml2020/finetune_dataset.gin': 'data.SyntheticNotes',
    'papers/icml2020/finetune_model.gin': 'models.InverseSynthesis',
    'papers/icml2020/pretrain_dataset.gin': 'data.SyntheticNotes',
    'papers/icml2020/pretrain_model.gin': 'models.InverseSynthesis',
}


@pytest.fixture(scope='module')
def ddsp_gin_tree(tmp_path_factory):
    """A copy of the reference install's ddsp/training/gin folder."""
    found = subprocess.run(
        [
            reference_python(),
            '-c',
            "import importlib.util; print(importlib.util.find_spec('ddsp').submodule_search_locations[0])",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    source = os.path.join(found.stdout.strip(), 'training', 'gin')
    target = tmp_path_factory.mktemp('ddsp_gin') / 'gin'
    shutil.copytree(source, target)
    return str(target)


def _data(name, tmp_path):
    """(TFRecord glob, shrinking bindings) for a file: the VST models read 50 Hz centred frames."""
    from tests.training import tiny

    prefix = str(tmp_path / 'data' / 'train.tfrecord')
    if name.startswith('models/vst/'):
        sample_rate = {'vst.gin': 16000, 'vst_32k.gin': 32000, 'vst_48k.gin': 48000}[name.split('/')[-1]]
        return tiny.write_vst_tfrecords(prefix, sample_rate), tiny.vst_shrink_params(sample_rate)
    bindings = tiny.SHRINK_PARAMS + [f'TFRecordProvider.example_secs = {tiny.EXAMPLE_SECS}']
    return tiny.write_tfrecords(prefix, n_examples=2, n_shards=1), bindings


def test_the_list_is_every_gin_file_of_ddsp(ddsp_gin_tree):
    installed = sorted(
        os.path.relpath(os.path.join(d, f), ddsp_gin_tree)
        for d, _, files in os.walk(ddsp_gin_tree)
        for f in files
        if f.endswith('.gin')
    )
    assert installed == sorted(DDSP_GIN_FILES)


def _resolve(value):
    """A bound value with gin's references resolved: %macro -> its value, @name -> the configurable."""
    import gin

    if isinstance(value, gin.config.ConfigurableReference):
        fn = value.scoped_configurable_fn
        return fn() if value.evaluate else fn
    return value


def _query(name):
    import gin

    try:
        return _resolve(gin.query_parameter(name))
    except ValueError:
        return None


def _build():
    """Builds what the parsed config sets up; returns what was built, e.g. 'model (forward pass)'."""
    import gin

    from clarinet_ddsp.training import models

    built = []
    provider = gin.get_configurable('data.TFRecordProvider')()  # the tiny data, as the config reads it
    batch = next(iter(provider.get_batch(1, shuffle=False, repeats=1)))
    if _query('get_model.model') is not None:
        model = models.get_model()
        audio = model.get_audio_from_outputs(model(batch, training=False)).numpy()
        assert audio.shape[0] == 1 and audio.shape[-1] > 0 and np.all(np.isfinite(audio))
        built.append(f'{type(model).__name__} (forward pass)')
    for loop in ('evaluate', 'sample'):
        classes = _query(f'{loop}.evaluator_classes')
        if classes is not None:
            names = [_resolve(c).__name__ for c in classes]
            built.append(f'{loop}: {", ".join(names)}')
    if _query('train.data_provider') is not None:
        train_provider = gin.query_parameter('train.data_provider').scoped_configurable_fn()
        next(iter(train_provider.get_batch(1, shuffle=False, repeats=1)))
        built.append(f'train data: {type(train_provider).__name__} (a batch)')
    return '; '.join(built) or 'parsed'


@pytest.mark.parametrize('name', DDSP_GIN_FILES)
def test_ddsp_gin_file_works_or_names_what_is_unsupported(
    name, ddsp_gin_tree, monkeypatch, request, tmp_path
):
    import gin

    from clarinet_ddsp.training import gin_config

    monkeypatch.setenv('CLARINET_DDSP_GIN_PATH', ddsp_gin_tree)
    # gin's search path only grows: start it afresh, so includes find ddsp's files and not the package's.
    monkeypatch.setattr(gin.config, '_LOCATION_PREFIXES', [''])
    monkeypatch.setattr(gin_config, '_ADDED', [])
    pattern, bindings = _data(name, tmp_path)
    try:
        gin_config.parse_gin('', [name], [*bindings, f"TFRecordProvider.file_pattern = '{pattern}'"])
        outcome, message = 'works', _build()
    except gin_config.ConfigError as error:
        outcome, message = 'fails', str(error)
    except Exception as error:  # noqa: BLE001 (recorded in the table, then the test fails below)
        outcome, message = 'error', f'{type(error).__name__}: {str(error).strip().splitlines()[0]}'
    finally:
        gin.clear_config()
    request.node.user_properties.append(('ddsp_gin', {'file': name, 'outcome': outcome, 'message': message}))
    if name not in NOT_SUPPORTED:
        assert outcome == 'works', message
        return
    assert outcome == 'fails', f'{name} works now ({message}): take it off NOT_SUPPORTED'
    assert '\n' not in message
    assert message.startswith(f'--gin_file={name}: {NOT_SUPPORTED[name]} is not supported by clarinet_ddsp')
