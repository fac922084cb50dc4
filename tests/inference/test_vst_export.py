"""clarinet_ddsp_export --vst: the .tflite is what the DDSP-VST plugin loads, and it plays the trained model.

The plugin's contract (magenta/ddsp-vst src/util/Constants.h, src/audio/tflite/ModelLibrary.cpp): 3
float32 inputs and 4 outputs found by name with fixed element counts, builtin operators of TF 2.9.1's
TFLite (BuiltinOpResolver, no Flex), metadata.json in a ZIP archive appended to the .tflite. The file is
parsed here with LiteRT's own flatbuffer schema and run with LiteRT's interpreter (ai-edge-litert).
"""

import io
import json
import os
import struct
import zipfile

import gin
import numpy as np
import pytest
import soundfile
import tensorflow as tf
from absl import flags
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

from clarinet_ddsp.cli import export as export_cli
from clarinet_ddsp.training import gin_config, models, train_util, trainers
from tests import inference_runs
from tests.training import tiny

FLAGS = flags.FLAGS
NAME = 'Clarinet'
TENSORS = {
    'call_f0_scaled:0': 1,
    'call_pw_scaled:0': 1,
    'call_state:0': 512,
    'StatefulPartitionedCall:0': 1,
    'StatefulPartitionedCall:1': 60,
    'StatefulPartitionedCall:2': 65,
    'StatefulPartitionedCall:3': 512,
}
# The newest operator version TF 2.9.1's TFLite runs, for every operator a float model can use here:
# tensorflow/lite/tools/versioning/runtime_version.cc, the entries whose minimum runtime is <= 2.9.
TF_2_9_MAX_VERSIONS = {
    'ADD': 4, 'BATCH_MATMUL': 4, 'CAST': 4, 'CONCATENATION': 3, 'DIV': 2, 'EQUAL': 3, 'EXP': 1,
    'EXPAND_DIMS': 1, 'FILL': 3, 'FULLY_CONNECTED': 9, 'GATHER': 5, 'GREATER': 2, 'GREATER_EQUAL': 2,
    'LEAKY_RELU': 2, 'LESS': 2, 'LESS_EQUAL': 2, 'LOG': 1, 'LOGISTIC': 3, 'MAXIMUM': 4, 'MEAN': 3,
    'MINIMUM': 4, 'MUL': 5, 'NEG': 1, 'PACK': 3, 'POW': 1, 'RESHAPE': 1, 'RSQRT': 2, 'SELECT': 2,
    'SELECT_V2': 1, 'SHAPE': 1, 'SLICE': 5, 'SPLIT': 4, 'SPLIT_V': 2, 'SQRT': 1, 'SQUARE': 1,
    'SQUARED_DIFFERENCE': 2, 'SQUEEZE': 2, 'STRIDED_SLICE': 6, 'SUB': 5, 'SUM': 2, 'TANH': 3,
    'TILE': 3, 'TRANSPOSE': 5, 'UNPACK': 4, 'ZEROS_LIKE': 1,
}  # fmt: skip
PLUGIN_KEYS = (
    'mean_min_pitch_note_hz',
    'mean_max_pitch_note_hz',
    'mean_min_power_note',
    'mean_max_power_note',
    'version',
    'export_time',
)


def train_vst_run(directory: str, steps: int = 2) -> str:
    """models/vst/vst.gin at the plugin's sizes, a few steps on 0.2 s examples (tiny.write_vst_tfrecords)."""
    pattern = tiny.write_vst_tfrecords(os.path.join(directory, 'data', 'train.tfrecord'))
    save_dir = os.path.join(directory, 'run')
    bindings = [p for p in tiny.vst_shrink_params() if not p.startswith('RnnFcDecoder')]
    bindings += [f"TFRecordProvider.file_pattern = '{pattern}'", f'train_util.train.num_steps = {steps}']
    gin.clear_config()
    try:
        gin_config.parse_gin(save_dir, ['datasets/tfrecord.gin', 'models/vst/vst.gin'], bindings, [])
        trainer = trainers.Trainer(models.get_model(), learning_rate=3e-3)
        train_util.train(data_provider=gin.REQUIRED, trainer=trainer, save_dir=save_dir, restore_dir=save_dir)
    finally:
        gin.clear_config()
    return save_dir


def export(*argv):
    FLAGS.unparse_flags()
    try:
        FLAGS(['clarinet_ddsp_export', *argv])
        export_cli.main(['clarinet_ddsp_export'])
    finally:
        FLAGS.unparse_flags()


@pytest.fixture(scope='module')
def vst_run(tmp_path_factory):
    return train_vst_run(str(tmp_path_factory.mktemp('vst')))


@pytest.fixture(scope='module')
def exported(vst_run):
    """ddsp_export's command line from the Train VST colab, with our program name."""
    folder = os.path.join(vst_run, NAME)
    export(
        f'--name={NAME}',
        f'--model_path={vst_run}',
        f'--save_dir={folder}',
        '--inference_model=vst_stateless_predict_controls',
        '--tflite',
        '--notfjs',
    )
    return folder


def _parse(path):
    with open(path, 'rb') as f:
        data = f.read()
    return data, schema.ModelT.InitFromPackedBuf(bytearray(data), 0)


@pytest.mark.slow  # trains the plugin-sized model and exports it once (module fixture)
def test_tflite_has_the_plugins_seven_tensors_and_builtin_operators_tf_2_9_runs(exported):
    data, model = _parse(os.path.join(exported, f'{NAME}.tflite'))
    assert len(model.subgraphs) == 1
    graph = model.subgraphs[0]
    tensor = lambda i: (graph.tensors[i].name.decode(), int(np.prod(graph.tensors[i].shape)))
    inputs, outputs = dict(map(tensor, graph.inputs)), dict(map(tensor, graph.outputs))
    assert inputs == {k: v for k, v in TENSORS.items() if k.startswith('call_')}
    assert outputs == {k: v for k, v in TENSORS.items() if k.startswith('Stateful')}
    for i in list(graph.inputs) + list(graph.outputs):
        assert graph.tensors[i].type == schema.TensorType.FLOAT32
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith('_')}
    operators = []
    for code in model.operatorCodes:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        assert code.customCode is None and builtin != schema.BuiltinOperator.CUSTOM, 'custom/Flex operator'
        operators.append((names[builtin], code.version))
    for name, version in operators:
        assert name in TF_2_9_MAX_VERSIONS, f'{name} is not in the list of operators checked against TF 2.9.1'
        assert version <= TF_2_9_MAX_VERSIONS[name], f'{name} v{version} is newer than TF 2.9.1 runs'
    # Weights are constants: no variables for the plugin to initialise.
    assert not {'VAR_HANDLE', 'READ_VARIABLE', 'ASSIGN_VARIABLE', 'CALL_ONCE'} & {n for n, _ in operators}
    metadata = {m.name.decode(): bytes(model.buffers[m.buffer].data) for m in model.metadata}
    runtime = tuple(int(x) for x in metadata['min_runtime_version'].rstrip(b'\0').decode().split('.'))
    assert runtime <= (2, 9, 1)
    print('\n.tflite:', len(data), 'bytes; operators:', ', '.join(f'{n} v{v}' for n, v in sorted(operators)))
    assert 5e6 < len(data) < 1e7  # 1.87 M float32 weights of the decoder


@pytest.mark.slow  # trains the plugin-sized model and exports it once (module fixture)
def test_metadata_json_is_an_appended_zip_the_plugin_reads(exported, vst_run):
    path = os.path.join(exported, f'{NAME}.tflite')
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ['metadata.json']
        embedded = json.loads(archive.read('metadata.json'))
    for key in PLUGIN_KEYS:
        assert key in embedded, key
    with open(os.path.join(exported, 'metadata.json')) as f:
        assert json.load(f) == embedded
    # juce::ZipFile reads the central directory at the absolute offset the end record gives.
    with open(path, 'rb') as f:
        data = f.read()
    end = data.rindex(b'PK\x05\x06')
    (central_offset,) = struct.unpack('<I', data[end + 16 : end + 20])
    assert data[central_offset : central_offset + 4] == b'PK\x01\x02'
    # The training data: two 0.2 s sines at 220 and 242 Hz, amplitude 0.3 (power 10 log10(0.045)).
    assert 219.0 < embedded['mean_min_pitch_note_hz'] <= embedded['mean_max_pitch_note_hz'] < 243.0
    np.testing.assert_allclose(
        embedded['mean_min_pitch_note_hz'],
        440 * 2 ** ((embedded['mean_min_pitch_note'] - 69) / 12),
        rtol=1e-6,
    )
    assert embedded['mean_min_power_note'] <= embedded['mean_max_power_note']
    np.testing.assert_allclose(embedded['mean_max_power_note'], 10 * np.log10(0.3**2 / 2), atol=0.2)
    assert (embedded['num_harmonics'], embedded['num_noise_amps']) == (60, 65)
    assert (embedded['frame_rate'], embedded['frame_size'], embedded['sample_rate']) == (50, 1024, 16000)


@pytest.mark.slow  # trains the plugin-sized model and exports it once (module fixture)
def test_export_folder_is_ddsp_exports_with_a_resampled_ir(exported):
    with open(os.path.join(exported, f'{NAME}.tflite'), 'rb') as a:
        with open(os.path.join(exported, 'tflite', f'{NAME}.tflite'), 'rb') as b:
            assert a.read() == b.read()
    ir16, rate16 = soundfile.read(os.path.join(exported, 'reverb_ir_16000_hz.wav'))
    ir44, rate44 = soundfile.read(os.path.join(exported, 'reverb_ir_44100_hz.wav'))
    assert (rate16, rate44, len(ir16)) == (16000, 44100, 256)
    assert abs(len(ir44) - 256 * 44100 / 16000) <= 1
    # A true resampling: the same signal at the new rate (scipy's polyphase resampler, independent).
    from scipy import signal

    # Compared below 7 kHz: the resamplers' anti-aliasing filters differ near the 8 kHz band edge.
    n = len(ir44)
    spectrum = lambda x: np.fft.rfft(x, 4 * n)[np.fft.rfftfreq(4 * n, 1 / 44100) < 7000]
    ours, expected = spectrum(ir44), spectrum(signal.resample_poly(ir16, 441, 160)[:n])
    assert np.linalg.norm(ours - expected) < 0.05 * np.linalg.norm(expected)


@pytest.mark.slow  # trains the plugin-sized model and exports it once (module fixture)
def test_tflite_frame_by_frame_reproduces_the_batch_controls_of_10_s(exported, vst_run):
    from clarinet_ddsp import synths
    from clarinet_ddsp.inference import restore

    n = 500  # 10 s at 50 frames/s
    t = np.linspace(0.0, 1.0, n)
    f0_hz = 196.0 * 2 ** (2.5 * t + 0.2 * np.sin(2 * np.pi * 3 * t))  # G3 up past C6, with vibrato
    pw_db = -70.0 + 62.0 * np.sin(np.pi * t) ** 2
    f0_scaled = (12 * np.log2(f0_hz / 440.0) + 69) / 127
    pw_scaled = pw_db / 80 + 1

    # The trained model, as trained (stateful decoder over the whole sequence), and its controls.
    restored = restore.load_model(vst_run)
    model = restored.model
    feats = {
        'f0_scaled': tf.constant(f0_scaled[None, :, None], tf.float32),
        'pw_scaled': tf.constant(pw_scaled[None, :, None], tf.float32),
    }
    out = model.decoder(feats, training=False)
    harmonic = restore.find_processors(model, (synths.Harmonic,))[0]
    noise = restore.find_processors(model, (synths.FilteredNoise,))[0]
    f0_model = 440.0 * 2 ** ((feats['f0_scaled'] * 127 - 69) / 12)
    hc = harmonic.get_controls(out['amps'], out['harmonic_distribution'], f0_model)
    batch = {
        'amps': hc['amplitudes'][0].numpy(),
        'hd': hc['harmonic_distribution'][0].numpy(),
        'noise': noise.get_controls(out['noise_magnitudes'])['magnitudes'][0].numpy(),
    }

    interpreter = Interpreter(model_path=os.path.join(exported, f'{NAME}.tflite'))
    interpreter.allocate_tensors()
    index = {
        d['name']: d['index'] for d in interpreter.get_input_details() + interpreter.get_output_details()
    }
    state = np.zeros(512, np.float32)
    frames = {k: [] for k in batch}
    for i in range(n):
        interpreter.set_tensor(index['call_f0_scaled:0'], np.float32([f0_scaled[i]]))
        interpreter.set_tensor(index['call_pw_scaled:0'], np.float32([pw_scaled[i]]))
        interpreter.set_tensor(index['call_state:0'], state)
        interpreter.invoke()
        for key, j in (('amps', 0), ('hd', 1), ('noise', 2)):
            frames[key].append(interpreter.get_tensor(index[f'StatefulPartitionedCall:{j}']).copy())
        state = interpreter.get_tensor(index['StatefulPartitionedCall:3']).copy()
    frames = {k: np.stack(v) for k, v in frames.items()}

    errors = {k: np.linalg.norm(frames[k] - batch[k]) / np.linalg.norm(batch[k]) for k in batch}
    worst_frame = max(
        float(np.max(np.linalg.norm(frames[k] - batch[k], axis=1) / np.linalg.norm(batch[k], axis=1)))
        for k in batch
    )
    print(f'\nframe by frame vs batch, relative L2: {errors}; worst single frame {worst_frame:.2e}')
    assert max(errors.values()) < 1e-4 and worst_frame < 1e-4
    # The plugin's expectations of the controls.
    for key in ('amps', 'noise'):
        assert np.all(frames[key] > 1e-7) and np.all(frames[key] <= 2.0)
    harmonic_hz = f0_hz[:, None] * np.arange(1, 61)[None, :]
    assert np.all(frames['hd'][harmonic_hz >= 8000.0] == 0.0)
    np.testing.assert_allclose(frames['hd'].sum(axis=1), 1.0, atol=1e-5)
    assert np.all(frames['hd'] >= 0.0)


def test_exporting_a_solo_instrument_run_with_vst_fails_naming_the_recipe_and_writes_nothing(tmp_path):
    solo = inference_runs.make_untrained_run(str(tmp_path / 'solo'))
    before = sorted(os.listdir(tmp_path))
    out = tmp_path / 'exported'
    with pytest.raises(ValueError) as error:
        export(f'--save_dir={solo}', f'--output={out}', '--vst', '--name=Solo')
    message = str(error.value)
    assert 'F0LoudnessPreprocessor (conditioning on loudness)' in message
    assert 'RnnFcDecoder.output_splits' in message and 'models/vst/vst.gin' in message
    assert 'Nothing was written' in message
    assert sorted(os.listdir(tmp_path)) == before and not out.exists()


def test_other_sample_rates_and_sizes_are_named():
    from types import SimpleNamespace

    from clarinet_ddsp.inference import vst_export

    gin.clear_config()
    try:
        gin_config.parse_gin('', ['models/vst/vst_32k.gin'], [], [])
        model = models.get_model()
        batch = {'audio': tf.zeros([1, 128000]), 'audio_16k': tf.zeros([1, 64000])}
        batch.update(f0_hz=tf.fill([1, 201], 220.0), f0_confidence=tf.ones([1, 201]))
        model(batch, training=False)
    finally:
        gin.clear_config()
    problems = vst_export.vst_mismatches(SimpleNamespace(model=model))
    assert 'Harmonic.sample_rate is 32000, the plugin needs 16000' in problems
    assert any(
        p.startswith('RnnFcDecoder.output_splits') and "'harmonic_distribution': 100" in p for p in problems
    )


def test_export_time_is_unique_per_export():
    from types import SimpleNamespace

    from clarinet_ddsp.inference import vst_export

    decoder = SimpleNamespace(
        output_splits=(('amps', 1), ('harmonic_distribution', 60), ('noise_magnitudes', 65))
    )
    restored = SimpleNamespace(
        model=SimpleNamespace(decoder=decoder, preprocessor=SimpleNamespace(frame_rate=50, frame_size=1024)),
        sample_rate=16000,
    )
    stats = dict.fromkeys(
        ['mean_min_pitch_note', 'mean_max_pitch_note', 'mean_min_power_note', 'mean_max_power_note'], 60.0
    )
    times = {vst_export.vst_metadata(restored, stats)['export_time'] for _ in range(3)}
    assert len(times) == 3
    blob = vst_export.append_metadata(b'\x1c\x00\x00\x00TFL3' + bytes(100), {'export_time': 'x'})
    assert zipfile.ZipFile(io.BytesIO(blob)).read('metadata.json') == b'{\n "export_time": "x"\n}'


_REF_POWER_STATS = r"""
import sys
import numpy as np
import tensorflow as tf
from ddsp.training import postprocessing
d = dict(np.load(sys.argv[1]))

class Provider:
    def get_batch(self, batch_size, shuffle=True, repeats=1):
        keys = ('audio', 'f0_hz', 'f0_confidence', 'loudness_db')
        return tf.data.Dataset.from_tensor_slices({k: d[k] for k in keys}).batch(batch_size)

stats = postprocessing.compute_dataset_statistics(Provider(), power_frame_size=1024, power_frame_rate=50)
np.savez(sys.argv[2], **{k: np.float64(v) for k, v in stats.items() if k != 'quantile_transform'})
"""


@pytest.mark.parity
def test_power_note_statistics_in_the_metadata_match_ddsp(tmp_path):
    """ddsp_export's metadata comes from ddsp's compute_dataset_statistics with power at 1024 / 50 Hz."""
    import subprocess

    from clarinet_ddsp.training import data, dataset_stats

    ref_python = os.environ.get('CLARINET_DDSP_REF_PYTHON') or os.path.join(
        inference_runs.REPO, '.venv-ref', 'bin', 'python'
    )
    if not os.path.exists(ref_python):
        pytest.fail(
            f'Parity tier: no reference interpreter at {ref_python}; run `make refenv`.', pytrace=False
        )
    rng = np.random.RandomState(3)
    n_ex, n_frames = 3, 201
    t = np.arange(64000) / 16000
    envelope = np.interp(np.arange(64000), [0, 8000, 40000, 64000], [0.0, 0.5, 0.2, 0.0])
    audio = np.stack(
        [
            envelope * rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * rng.uniform(150, 600) * t)
            for _ in range(n_ex)
        ]
    ).astype(np.float32)
    features = {
        'audio': audio,
        'f0_hz': rng.uniform(150, 600, (n_ex, n_frames)).astype(np.float32),
        'f0_confidence': np.clip(rng.uniform(0.3, 1.2, (n_ex, n_frames)), 0, 1).astype(np.float32),
        'loudness_db': np.linspace(-70, -15, n_frames)[None].repeat(n_ex, 0).astype(np.float32),
    }
    inputs, outputs = str(tmp_path / 'in.npz'), str(tmp_path / 'out.npz')
    np.savez(inputs, **features)
    env = dict(
        os.environ,
        TF_USE_LEGACY_KERAS='1',
        CUDA_VISIBLE_DEVICES='-1',
        TF_CPP_MIN_LOG_LEVEL='2',
        PYTHONPATH=os.path.join(inference_runs.REPO, 'tests', 'parity', 'ref_stubs'),
    )
    proc = subprocess.run(
        [ref_python, '-c', _REF_POWER_STATS, inputs, outputs],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = np.load(outputs)
    ours = dataset_stats.compute_dataset_statistics(
        data.InMemoryProvider(features), power_frame_size=1024, power_frame_rate=50
    )
    for key in (
        'mean_min_power_note',
        'mean_max_power_note',
        'mean_power_note',
        'std_power',
        'mean_min_pitch_note',
    ):
        assert ours[key] == pytest.approx(float(ref[key]), rel=1e-4, abs=1e-3), key
    print(
        f'\npower note range: ours {ours["mean_min_power_note"]:.4f}..{ours["mean_max_power_note"]:.4f} dB, '
        f'ddsp {float(ref["mean_min_power_note"]):.4f}..{float(ref["mean_max_power_note"]):.4f} dB'
    )


def test_ddsp_export_spellings_that_are_not_the_vst_model_are_refused(tmp_path):
    with pytest.raises(ValueError, match='TensorFlow.js export is not supported'):
        export(
            f'--model_path={tmp_path}',
            '--inference_model=vst_stateless_predict_controls',
            '--tflite',
            '--tfjs',
        )
    with pytest.raises(ValueError, match='--inference_model=vst_stateless_predict_controls --tflite'):
        export(f'--model_path={tmp_path}', '--notfjs')
    assert os.listdir(tmp_path) == []
