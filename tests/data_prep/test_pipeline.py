"""The Beam pipeline end to end on the DirectRunner: shards read back, pitch, splits, bad input."""

import glob
import os

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from clarinet_ddsp import core
from clarinet_ddsp.data_prep import audio_io, clarinet_model, notes, pipeline
from clarinet_ddsp.data_prep import examples as ex_lib
from clarinet_ddsp.errors import ArgumentError
from tests.data_prep import audio_files

KEYS = ('audio', 'audio_16k', 'f0_hz', 'f0_confidence', 'loudness_db')


def write_clarinet_notes(directory, plan, secs=2.0):
    """Physical-model notes [(midi, dynamic)] as MTG-named WAVs; returns {path: samples}."""
    os.makedirs(directory, exist_ok=True)
    audio = clarinet_model.render_notes(
        [clarinet_model.NoteSpec(float(core.midi_to_hz_np(m)), d) for m, d in plan], secs=secs
    )
    out = {}
    for i, ((midi, dynamic), x) in enumerate(zip(plan, audio)):
        name = f'{i + 1:06d}__physmodel__clarinet-{notes.midi_to_name(midi)}-{dynamic}.wav'
        path = os.path.join(directory, name)
        sf.write(path, x, 16000, subtype='FLOAT')
        out[path] = sf.read(path, dtype='float32')[0]
    return out


def read_examples(pattern):
    """Every example in the shards, each feature as a float32 numpy array of whatever length was written."""
    spec = {k: tf.io.VarLenFeature(tf.float32) for k in KEYS}
    files = sorted(glob.glob(pattern))
    dataset = tf.data.TFRecordDataset(files).map(lambda r: tf.io.parse_single_example(r, spec))
    return [{k: tf.sparse.to_dense(v).numpy() for k, v in ex.items()} for ex in dataset]


def source_of(example, sources, hop=16000):
    """The source file whose samples the example's audio_16k window is (windows start at hop multiples)."""
    head = example['audio_16k'][:3000]
    found = [
        p
        for p, s in sources.items()
        if any(np.array_equal(head, s[k : k + 3000]) for k in range(0, len(s) - 3000, hop))
    ]
    assert len(found) == 1, found
    return found[0]


def median_confident_cents(example, target_hz, min_confidence=0.5):
    confident = example['f0_confidence'] > min_confidence
    assert confident.mean() > 0.5, 'CREPE is not confident on most frames of a steady note'
    return 1200 * np.log2(np.median(example['f0_hz'][confident]) / target_hz)


def _no_leftovers(out_dir):
    return not [n for n in os.listdir(out_dir) if n.startswith('.') or 'tmp' in n or 'beam-temp' in n]


def _three_notes(work, pipeline_options=None):
    """Three notes (D3 pp, A4 mf, E6 ff) through prepare_tfrecord: (sources, prefix, result)."""
    sources = write_clarinet_notes(str(work / 'notes'), [(50, 'pp'), (69, 'mf'), (88, 'ff')], secs=2.0)
    prefix = str(work / 'out' / 'train.tfrecord')
    kwargs = {} if pipeline_options is None else {'pipeline_options': pipeline_options}
    result = pipeline.prepare_tfrecord(
        sorted(sources), prefix, num_shards=3, example_secs=1, hop_secs=1, crepe_model='tiny', **kwargs
    )
    return sources, prefix, result


@pytest.fixture(scope='module')
def default_run(tmp_path_factory):
    """The three notes on the DirectRunner in one process (the multi-process default: a slow test)."""
    return _three_notes(tmp_path_factory.mktemp('roundtrip'), audio_files.IN_MEMORY)


def test_round_trip_writes_exactly_num_shards_with_ddsps_keys_and_lengths(default_run):
    _check_round_trip(*default_run)


@pytest.mark.slow  # multi-processing workers, one per core
def test_default_multi_process_runner_round_trips_too(tmp_path):
    _check_round_trip(*_three_notes(tmp_path))


def _check_round_trip(sources, prefix, result):
    shards = sorted(glob.glob(prefix + '*'))
    assert [os.path.basename(s) for s in shards] == [f'train.tfrecord-0000{i}-of-00003' for i in range(3)]
    assert result.shards == shards
    assert _no_leftovers(os.path.dirname(prefix))
    examples = read_examples(prefix + '*')
    assert len(examples) == 6  # 3 notes x 2 one-second windows
    for ex in examples:
        assert {k: v.shape for k, v in ex.items()} == {
            'audio': (16000,),
            'audio_16k': (16000,),
            'f0_hz': (250,),
            'f0_confidence': (250,),
            'loudness_db': (250,),
        }
    assert result.counters['files-loaded'] == 3 and result.counters['examples-train'] == 6


def test_round_trip_reads_in_the_training_data_provider(default_run):
    from clarinet_ddsp.training import data

    _, prefix, _ = default_run
    provider = data.TFRecordProvider(prefix + '*', example_secs=1)
    batch = next(iter(provider.get_batch(6, shuffle=False, repeats=1)))
    assert batch['audio'].shape == (6, 16000) and batch['f0_hz'].dtype == tf.float32
    assert batch['loudness_db'].shape[:2] == (6, 250)


def test_each_examples_median_confident_f0_is_within_20_cents_of_its_note(default_run):
    sources, prefix, _ = default_run
    for ex in read_examples(prefix + '*'):
        path = source_of(ex, sources)
        cents = median_confident_cents(ex, float(core.midi_to_hz_np(notes.midi_from_filename(path))))
        assert abs(cents) < 20, (path, cents)


def test_loudness_follows_the_audio(default_run):
    from clarinet_ddsp import spectral_ops

    _, prefix, _ = default_run
    ex = read_examples(prefix + '*')[0]
    expected = np.asarray(spectral_ops.compute_loudness(ex['audio_16k'], 16000, 250, 512, padding='same'))
    # Windows are cut from a chunk's loudness, so frames away from the window edges match exactly.
    np.testing.assert_allclose(ex['loudness_db'][10:-10], expected[10:-10], atol=0.5)


def test_center_adds_one_frame_and_eval_split_is_disjoint(tmp_path):
    sources = write_clarinet_notes(
        str(tmp_path / 'notes'), [(55, 'mf'), (60, 'mf'), (65, 'mf'), (70, 'mf')], secs=1.0
    )
    prefix = str(tmp_path / 'out' / 'ds.tfrecord')
    pipeline.prepare_tfrecord(
        sorted(sources),
        prefix,
        num_shards=2,
        example_secs=1,
        hop_secs=1,
        eval_split_fraction=0.25,
        center=True,
        crepe_model='tiny',
        pipeline_options=audio_files.IN_MEMORY,
    )
    names = sorted(os.listdir(tmp_path / 'out'))
    assert names == [f'ds.tfrecord-{s}-0000{i}-of-00002' for s in ('eval', 'train') for i in range(2)]
    train, evaluation = read_examples(prefix + '-train*'), read_examples(prefix + '-eval*')
    assert len(evaluation) == 1 and len(train) == 3
    assert all(ex['f0_hz'].shape == (251,) and ex['loudness_db'].shape == (251,) for ex in train + evaluation)
    assert source_of(evaluation[0], sources) not in {source_of(ex, sources) for ex in train}


def test_eight_channel_96k_24bit_file_prepares_at_48k(tmp_path):
    path = audio_files.write_tone(
        str(tmp_path / 'tone-96k.wav'), 440, 2.0, rate=96000, channels=8, subtype='PCM_24'
    )
    prefix = str(tmp_path / 'out' / 'train.tfrecord')
    pipeline.prepare_tfrecord(
        [path],
        prefix,
        num_shards=1,
        sample_rate=48000,
        example_secs=1,
        hop_secs=1,
        crepe_model='tiny',
        pipeline_options=audio_files.IN_MEMORY,
    )
    examples = read_examples(prefix + '*')
    assert len(examples) == 2
    for ex in examples:
        assert ex['audio'].shape == (48000,) and ex['audio_16k'].shape == (16000,)
        assert ex['f0_hz'].shape == (250,)
        assert abs(median_confident_cents(ex, 440.0)) < 20
    # The 48 kHz and 16 kHz audio are the same sound.
    a48, a16 = examples[0]['audio'], examples[0]['audio_16k']
    np.testing.assert_allclose(a48[3000:45000:3], a16[1000:15000], atol=0.02)


@pytest.mark.parametrize('kind', sorted(audio_files.REASONS))
def test_bad_input_fails_up_front_naming_the_file_and_writes_nothing(tmp_path, kind):
    good = audio_files.write_tone(str(tmp_path / 'good.wav'), 440, 1.5)
    bad = audio_files.write_bad_files(str(tmp_path / 'bad'))[kind]
    out_dir = tmp_path / 'out'
    with pytest.raises(audio_io.BadAudioFilesError) as info:
        pipeline.prepare_tfrecord(
            [good, bad],
            str(out_dir / 'train.tfrecord'),
            num_shards=2,
            example_secs=1,
            crepe_model='tiny',
            pipeline_options=audio_files.IN_MEMORY,
        )
    message = str(info.value)
    assert bad in message and audio_files.REASONS[kind] in message and good not in message
    assert '--skip_bad_files' in message
    assert not out_dir.exists() or not os.listdir(out_dir)


def test_skip_bad_files_writes_the_good_ones_and_lists_the_bad(tmp_path):
    good = audio_files.write_tone(str(tmp_path / 'good.wav'), 440, 1.5)
    bad = audio_files.write_bad_files(str(tmp_path / 'bad'))
    prefix = str(tmp_path / 'out' / 'train.tfrecord')
    result = pipeline.prepare_tfrecord(
        [good] + sorted(bad.values()),
        prefix,
        num_shards=1,
        example_secs=1,
        crepe_model='tiny',
        skip_bad_files=True,
        pipeline_options=audio_files.IN_MEMORY,
    )
    assert sorted(e.path for e in result.skipped) == sorted(bad.values())
    assert result.n_files == 1 and len(read_examples(prefix + '*')) == 2  # 1.5 s -> padded to 2 windows


def test_a_2_5_s_note_prepares_into_one_example_padded_with_silence(tmp_path):
    sources = write_clarinet_notes(str(tmp_path / 'notes'), [(69, 'mf')], secs=2.5)
    ((path, source),) = sources.items()
    prefix = str(tmp_path / 'out' / 'train.tfrecord')
    result = pipeline.prepare_tfrecord(  # ddsp's defaults: 4 s examples every 1 s
        [path], prefix, num_shards=1, crepe_model='tiny', pipeline_options=audio_files.IN_MEMORY
    )
    assert result.padded == [path] and result.n_files == 1
    (ex,) = read_examples(prefix + '*')
    assert ex['audio'].shape == (64000,) and ex['f0_hz'].shape == (1000,)
    np.testing.assert_array_equal(ex['audio'][:40000], source)
    assert not ex['audio'][40000:].any()
    note = {k: ex[k][:600] for k in ('f0_hz', 'f0_confidence')}  # the note's first 2.4 s
    assert abs(median_confident_cents(note, 440.0)) < 20
    # Silence after the note: the loudness floor (-80 dB, ddsp's range), reached once the last
    # 512-sample analysis window has left the note.
    np.testing.assert_allclose(ex['loudness_db'][630:], -80.0, atol=1e-4)


def test_a_30_ms_file_is_rejected_by_name_and_skipped_on_request(tmp_path):
    short = audio_files.write_tone(str(tmp_path / 'blip.wav'), 440, 0.03)
    note = audio_files.write_tone(str(tmp_path / 'note.wav'), 440, 0.5)
    prefix = str(tmp_path / 'out' / 'train.tfrecord')
    kwargs = dict(num_shards=1, example_secs=1, crepe_model='tiny', pipeline_options=audio_files.IN_MEMORY)
    with pytest.raises(audio_io.BadAudioFilesError) as info:
        pipeline.prepare_tfrecord([note, short], prefix, **kwargs)
    assert f'{short}: is 30.0 ms long, shorter than one CREPE frame' in str(info.value)
    assert note not in str(info.value)
    result = pipeline.prepare_tfrecord([note, short], prefix, skip_bad_files=True, **kwargs)
    assert [e.path for e in result.skipped] == [short] and result.padded == [note]
    assert len(read_examples(prefix + '*')) == 1


def test_a_failing_pipeline_leaves_no_shards_and_keeps_older_ones(tmp_path, monkeypatch):
    good = audio_files.write_tone(str(tmp_path / 'good.wav'), 440, 2.0)
    prefix = str(tmp_path / 'out' / 'train.tfrecord')
    kwargs = dict(example_secs=1, hop_secs=1, crepe_model='tiny', pipeline_options=audio_files.IN_MEMORY)
    pipeline.prepare_tfrecord([good], prefix, num_shards=2, **kwargs)
    before = sorted(os.listdir(tmp_path / 'out'))

    def broken(*args, **kwargs):
        raise RuntimeError('disk full (simulated)')

    monkeypatch.setattr(ex_lib, 'add_loudness', broken)
    with pytest.raises(Exception, match='disk full'):
        pipeline.prepare_tfrecord([good], prefix, num_shards=3, **kwargs)
    assert sorted(os.listdir(tmp_path / 'out')) == before  # no new shard, no temp dir, old ones intact
    monkeypatch.undo()
    pipeline.prepare_tfrecord([good], prefix, num_shards=1, **kwargs)  # a rerun replaces them
    assert os.listdir(tmp_path / 'out') == ['train.tfrecord-00000-of-00001']


def test_runner_options_use_every_core_on_the_direct_runner_only():
    assert pipeline.runner_options(['--runner=DirectRunner']) == [
        '--runner=DirectRunner',
        '--direct_num_workers=0',
        '--direct_running_mode=multi_processing',
    ]
    assert pipeline.runner_options(IN := audio_files.IN_MEMORY) == IN
    dataflow = [
        '--runner=DataflowRunner',
        '--project=p',
        '--region=europe-west1',
        '--temp_location=gs://b/tmp',
    ]
    assert pipeline.runner_options(dataflow) == dataflow


def test_bad_arguments_are_named_as_the_functions_arguments():
    with pytest.raises(ArgumentError, match='prepare_tfrecord: frame_rate=300 must divide 16000') as info:
        pipeline.prepare_tfrecord(['x.wav'], '/tmp/x', frame_rate=300)
    assert (info.value.argument, info.value.value) == ('frame_rate', 300)
    with pytest.raises(ArgumentError, match='prepare_tfrecord: eval_split_fraction=1.5 must be in'):
        pipeline.prepare_tfrecord(['x.wav'], '/tmp/x', eval_split_fraction=1.5)
    with pytest.raises(ArgumentError, match='prepare_tfrecord: num_shards=0 must be a positive'):
        pipeline.prepare_tfrecord(['x.wav'], '/tmp/x', num_shards=0)
    with pytest.raises(ArgumentError, match="crepe_model='huge' must be one of"):
        pipeline.prepare_tfrecord(['x.wav'], '/tmp/x', crepe_model='huge')
    with pytest.raises(ArgumentError, match='f0_skip_below_db=70 must be a level below full scale'):
        pipeline.prepare_tfrecord(['x.wav'], '/tmp/x', f0_skip_below_db=70)


def test_f0_dofn_gives_silent_frames_no_pitch_only_when_asked():
    x = np.concatenate([audio_files.tone(147.0, 0.6), np.zeros(8000)]).astype(np.float32)
    ex = {'audio': x, 'audio_16k': x, 'key': 'k'}
    silent = np.arange(275) * 64 >= 9600  # 'same' frames starting after the note: only silence
    outs = []
    for level in (None, -70.0):
        dofn = pipeline.AddF0(
            frame_rate=250, center=False, viterbi=True, crepe_model='tiny', f0_skip_below_db=level
        )
        dofn.setup()
        outs.append(list(dofn.process(dict(ex)))[0])
    ddsp_like, skipped = outs
    assert np.all(ddsp_like['f0_hz'][silent] > 0) and np.all(ddsp_like['f0_confidence'][silent] > 0)
    np.testing.assert_array_equal(skipped['f0_hz'][silent], 0.0)
    np.testing.assert_array_equal(skipped['f0_confidence'][silent], 0.0)
    inside = np.arange(275) * 64 + 1024 <= 9600  # frames wholly inside the note
    cents = 1200 * np.log2(skipped['f0_hz'][inside] / 147.0)
    assert np.max(np.abs(cents)) < 20


@pytest.mark.slow
def test_full_crepe_on_default_notes_is_within_20_cents(tmp_path):
    plan = [(m, d) for m, d in notes.note_plan()][::6]  # 7 notes from D3 to E6, all three dynamics
    sources = write_clarinet_notes(str(tmp_path / 'notes'), plan, secs=2.0)
    prefix = str(tmp_path / 'out' / 'train.tfrecord')
    pipeline.prepare_tfrecord(
        sorted(sources), prefix, num_shards=2, example_secs=1, hop_secs=1, crepe_model='full'
    )
    examples = read_examples(prefix + '*')
    assert len(examples) == 2 * len(plan)
    for ex in examples:
        path = source_of(ex, sources)
        assert (
            abs(median_confident_cents(ex, float(core.midi_to_hz_np(notes.midi_from_filename(path))))) < 20
        ), path


def test_f0_dofn_loads_crepe_once_per_worker_in_setup(monkeypatch):
    from clarinet_ddsp import pitch
    from clarinet_ddsp.pitch import model as model_lib

    calls = []
    real = pitch.get_model

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(pitch, 'get_model', counting)
    monkeypatch.setattr(model_lib, 'get_model', counting)
    dofn = pipeline.AddF0(frame_rate=250, center=False, viterbi=True, crepe_model='tiny')
    dofn.setup()
    assert calls == [('tiny',)]
    for f0 in (220.0, 440.0, 880.0):
        x = audio_files.tone(f0, 0.5).astype(np.float32)
        out = list(dofn.process({'audio': x, 'audio_16k': x, 'key': 'k'}))[0]
        assert out['f0_hz'].shape == (125,) and out['f0_hz'].dtype == np.float32
        assert abs(median_confident_cents(out, f0)) < 20
    assert len(calls) == 1  # processing never reloads the network


def test_local_workers_share_the_cores_between_their_tensorflow_thread_pools(monkeypatch):
    monkeypatch.setattr(pipeline.os, 'cpu_count', lambda: 8)
    # The CLI's default: one multi-process worker per core, so one TensorFlow thread each.
    assert pipeline.local_worker_threads(pipeline.runner_options([])) == 1
    two_workers = ['--direct_num_workers=2', '--direct_running_mode=multi_processing']
    assert pipeline.local_worker_threads(two_workers) == 4
    # One process (in-memory or threads), or a remote runner: TensorFlow's own default.
    assert pipeline.local_worker_threads(['--direct_running_mode=in_memory']) is None
    assert pipeline.local_worker_threads(['--runner=DataflowRunner']) is None
