"""Resynthesis (timbre transfer): dataset statistics, the notebook's adjustments, the CLI end to end."""

import json
import os
import subprocess
import sys

import inference_runs
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from clarinet_ddsp import resynth, spectral_ops
from clarinet_ddsp.training import data, dataset_stats
from tests.pitch.tolerances import F0_RTOL, SALIENCE_ATOL


# ----------------------------------------------------------------------------- statistics pieces
def test_smooth_equals_tensorflow_conv1d_same_box_filter():
    x = np.random.RandomState(0).rand(2, 57)
    for size in (3, 40):
        w = tf.ones([size, 1, 1]) / size
        expected = tf.nn.conv1d(tf.constant(x[:, :, None], tf.float32), w, 1, 'SAME')[:, :, 0]
        np.testing.assert_allclose(dataset_stats.smooth(x, size), expected.numpy(), atol=1e-6)


def test_quantile_transform_agrees_with_numpy_percentiles():
    x = np.random.RandomState(1).normal(-30.0, 8.0, size=5000)
    transform = dataset_stats.QuantileTransformer().fit(x)
    for q in (0.1, 0.25, 0.5, 0.9):
        value = np.percentile(x, 100 * q)
        assert transform.transform(np.array([value]))[0] == pytest.approx(q, abs=2e-3)
        assert transform.inverse_transform(np.array([q]))[0] == pytest.approx(value, abs=0.05)
    round_trip = dataset_stats.QuantileTransformer.from_dict(json.loads(json.dumps(transform.to_dict())))
    np.testing.assert_allclose(round_trip.transform(x[:50]), transform.transform(x[:50]))


def test_detect_notes_finds_the_loud_confident_span():
    loudness = np.full(400, -75.0)
    loudness[100:300] = -20.0
    confidence = np.full(400, 0.1)
    confidence[100:300] = 0.95
    mask_on, _ = dataset_stats.detect_notes(loudness, confidence)
    assert mask_on[130:270].all()
    assert not mask_on[:80].any() and not mask_on[320:].any()


def test_statistics_from_features_report_pitch_and_note_loudness():
    n = 300
    f0 = np.stack([np.full(n, 220.0), np.full(n, 440.0)])  # MIDI 57 and 69
    conf = np.full((2, n), 0.95)
    loud = np.stack([np.linspace(-40.0, -20.0, n), np.linspace(-30.0, -10.0, n)])
    stats = dataset_stats.statistics_from_features(f0, conf, loud)
    assert stats['mean_pitch'] == pytest.approx(63.0, abs=1e-6)
    assert stats['mean_pitch_note'] == pytest.approx(63.0, abs=0.5)
    assert stats['n_examples'] == 2 and stats['n_frames'] == 2 * (n - 20)  # ddsp trims 20 frames
    assert -40.5 < stats['min_loudness_note'] < stats['max_loudness_note'] < -10.0
    json.dumps(stats)  # JSON-ready


def test_save_dataset_statistics_reads_a_tfrecord_provider(tmp_path):
    pattern = inference_runs.write_tfrecords(
        str(tmp_path / 'tf' / 'train.tfrecord'), midi_notes=(60, 72), levels=(0.3,)
    )
    provider = data.TFRecordProvider(pattern, example_secs=inference_runs.EXAMPLE_SECS)
    path = dataset_stats.save_dataset_statistics(provider, str(tmp_path / 'run'))
    stats = dataset_stats.load_dataset_statistics(str(tmp_path / 'run'))
    assert os.path.basename(path) == 'dataset_statistics.json'
    assert stats['n_examples'] == 2
    assert stats['mean_pitch'] == pytest.approx(66.0, abs=1e-3)
    assert isinstance(stats['quantile_transform'], dataset_stats.QuantileTransformer)


# ------------------------------------------------------------------------------- adjustments
def _stats(mean_pitch_note: float, loudness_range=(-40.0, -10.0)) -> dict:
    transform = dataset_stats.QuantileTransformer().fit(np.linspace(*loudness_range, 1000))
    return {
        'mean_pitch': mean_pitch_note,
        'mean_pitch_note': mean_pitch_note,
        'quantile_transform': transform,
    }


def _features(midi: float, n: int = 500) -> dict:
    loudness = np.full(n, -80.0, np.float32)
    loudness[50:450] = np.linspace(-70.0, -50.0, 400)
    conf = np.full(n, 0.05, np.float32)
    conf[50:450] = 0.95
    return {
        'f0_hz': np.full(n, 440.0 * 2 ** ((midi - 69) / 12), np.float32),
        'f0_confidence': conf,
        'loudness_db': loudness,
    }


@pytest.mark.parametrize(
    'input_midi, target_midi, octaves',
    [
        (48, 72, 2),  # exactly 2 octaves below
        (61, 62, 0),  # a semitone below: stays (the notebook's ceil would go up an octave)
        (66, 72, 1),  # half an octave: rounds up
        (72, 60, -1),
        (70, 60, -1),  # -0.83 -> -1
        (40, 72, 3),  # 2.67 -> 3
    ],
)
def test_auto_adjust_shifts_by_the_nearest_whole_octaves_toward_the_training_pitch(
    input_midi, target_midi, octaves
):
    features = _features(input_midi)
    adjusted, adjustment = resynth.auto_adjust(features, _stats(target_midi))
    assert adjustment.octave_shift_auto == octaves
    np.testing.assert_allclose(adjusted['f0_hz'], features['f0_hz'] * 2.0**octaves, rtol=1e-6)


def test_auto_adjust_maps_note_loudness_onto_the_training_range():
    features = _features(60)
    adjusted, adjustment = resynth.auto_adjust(features, _stats(60, (-40.0, -10.0)))
    assert adjustment.loudness_mapped
    mask_on, _ = dataset_stats.detect_notes(features['loudness_db'], features['f0_confidence'])
    on = adjusted['loudness_db'][mask_on]
    assert on.min() >= -40.0 - 1e-3 and on.max() <= -10.0 + 1e-3
    assert on.max() - on.min() > 20.0  # spread over the training range
    assert np.all(np.diff(on) >= -1e-4)  # order kept (the input rises monotonically)
    assert np.all(adjusted['loudness_db'][~mask_on] <= features['loudness_db'][~mask_on])


def test_shift_features_semitones_loudness_and_clip():
    features = {
        'f0_hz': np.array([440.0, 20000.0], np.float32),
        'loudness_db': np.array([-30.0, -30.0], np.float32),
    }
    shifted = resynth.shift_features(features, semitones=12.0, loudness_shift_db=-6.0)
    assert shifted['f0_hz'][0] == pytest.approx(880.0, rel=1e-6)
    assert shifted['f0_hz'][1] == pytest.approx(440.0 * 2 ** ((110 - 69) / 12), rel=1e-5)
    np.testing.assert_allclose(shifted['loudness_db'], [-36.0, -36.0])


def test_load_audio_mixes_to_mono_and_resamples(tmp_path):
    t = np.arange(44100) / 44100.0
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 440 * t)], 1)
    path = str(tmp_path / 'stereo.wav')
    sf.write(path, stereo, 44100)
    audio = resynth.load_audio(path, 16000)
    assert audio.shape == (16000,)
    assert np.max(np.abs(audio[1000:-1000])) == pytest.approx(0.3, abs=0.01)


def test_load_audio_names_an_unreadable_file(tmp_path):
    path = tmp_path / 'notes.wav'
    path.write_text('not audio')
    with pytest.raises(ValueError, match='notes.wav'):
        resynth.load_audio(str(path), 16000)


def test_sung_vowel_has_the_requested_pitch():
    audio, f0 = resynth.sung_vowel((57,), note_secs=0.6, vibrato_cents=0.0, gap_secs=0.0)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    freqs = np.fft.rfftfreq(audio.size, 1 / 16000)
    voiced = f0[f0 > 0]
    assert np.allclose(voiced, 220.0)
    # Harmonics of 220 Hz only: the strongest peak sits on a multiple of it.
    peak = freqs[np.argmax(spectrum)]
    assert abs(peak / 220.0 - round(peak / 220.0)) < 0.02


# ------------------------------------------------------------------------ end to end (trained)
def _cents(a_hz, b_hz):
    return 1200.0 * np.log2(np.maximum(a_hz, 1e-3) / np.maximum(b_hz, 1e-3))


@pytest.mark.slow
def test_resynthesised_sung_vowel_follows_the_input_pitch_within_50_cents():
    run_dir, _ = inference_runs.trained_run()
    audio, _ = resynth.sung_vowel((55, 57, 59, 60, 62, 64, 62, 59), note_secs=0.4)
    result = resynth.resynthesize(run_dir, audio=audio, auto_adjust_features=False, crepe_model='tiny')
    out = result['audio']
    assert out.shape == result['features']['audio'].shape
    assert 0.01 < np.max(np.abs(out)) < 5.0
    f0_out, conf_out = spectral_ops.compute_f0(out, 250, padding='same', model_capacity='tiny')
    f0_in = result['features']['f0_hz']
    conf_in = result['features']['f0_confidence']
    n = min(f0_out.size, f0_in.size)
    voiced = (conf_in[:n] > 0.8) & (result['features']['loudness_db'][:n] > -45.0)
    assert voiced.sum() > 0.5 * n
    cents = np.abs(_cents(f0_out[:n], f0_in[:n]))[voiced]
    assert np.median(cents) < 20.0, np.median(cents)
    assert np.mean(cents < 50.0) > 0.95, np.percentile(cents, [50, 90, 95, 99])


@pytest.mark.slow
def test_resynth_cli_auto_adjusts_by_octaves_and_writes_the_wav(tmp_path):
    run_dir, _ = inference_runs.trained_run()
    # Training notes span MIDI 55-79 (mean 67); a melody around MIDI 43 is shifted up 2 octaves.
    audio, _ = resynth.sung_vowel((42, 43, 45, 43), note_secs=0.4)
    in_path, out_path = str(tmp_path / 'low_voice.wav'), str(tmp_path / 'out.wav')
    sf.write(in_path, audio, 16000)
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'clarinet_ddsp.cli.resynth',
            f'--save_dir={run_dir}',
            f'--input={in_path}',
            f'--output={out_path}',
            '--crepe_model=tiny',
            '--pitch_shift=0',
        ],
        cwd=inference_runs.REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'auto +2 octave(s)' in proc.stderr
    out, rate = sf.read(out_path)
    assert rate == 16000 and out.size == int(np.ceil(audio.size / 64)) * 64
    f0_out, conf_out = spectral_ops.compute_f0(
        out.astype(np.float32), 250, padding='same', model_capacity='tiny'
    )
    f0_target = 440.0 * 2 ** ((43 + 24 - 69) / 12)  # the second note, two octaves up
    second = slice(int(0.5 * 250), int(0.8 * 250))
    assert np.median(np.abs(_cents(f0_out[second], f0_target))) < 50.0
    assert os.path.exists(os.path.join(run_dir, 'dataset_statistics.json'))


def test_resynth_cli_names_a_missing_input(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'clarinet_ddsp.cli.resynth',
            f'--save_dir={tmp_path}',
            f'--input={tmp_path / "missing.wav"}',
            f'--output={tmp_path / "out.wav"}',
        ],
        cwd=inference_runs.REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'),
    )
    assert proc.returncode != 0
    assert 'missing.wav' in proc.stderr


# ------------------------------------------------------------------------------- long inputs
def test_analysis_in_pieces_equals_the_whole_signal_analysis():
    audio, _ = resynth.sung_vowel((55, 60, 64, 67, 72, 67, 64, 60), note_secs=0.8)
    whole = resynth.compute_features(audio, 16000, 64, crepe_model='tiny', piece_secs=1000.0)
    pieces = resynth.compute_features(audio, 16000, 64, crepe_model='tiny', piece_secs=1.5, context_secs=1.0)
    # CREPE sees each frame in another batch (pieces vs whole), so its float32 sums run in other
    # kernels: f0 and confidence agree to rounding (tests/pitch/tolerances.py), and a changed Viterbi
    # path near a piece boundary (whole bins, > 1e-2 relative) would still fail.
    np.testing.assert_allclose(pieces['f0_hz'], whole['f0_hz'], rtol=F0_RTOL)
    np.testing.assert_allclose(pieces['f0_confidence'], whole['f0_confidence'], rtol=0, atol=SALIENCE_ATOL)
    # Loudness: the same frames, FFTs of the same length; 1e-4 dB is a relative power error of 2e-5,
    # far above float32 FFT rounding (~1e-6) and far below a shifted or mis-padded frame.
    np.testing.assert_allclose(pieces['loudness_db'], whole['loudness_db'], rtol=0, atol=1e-4)
    # Loudness frames are centred on the frame times: independent check with numpy at frame 100.
    frame = np.pad(whole['audio'], 256)[100 * 64 : 100 * 64 + 512]
    expected = spectral_ops.compute_loudness(frame, 16000, 250, padding='valid', use_tf=False)
    assert whole['loudness_db'][100] == pytest.approx(float(np.ravel(expected)[0]), abs=1e-4)


def test_synthesis_in_pieces_continues_phase_and_reverb(tmp_path):
    from clarinet_ddsp import inference

    run_dir = inference_runs.make_untrained_run(str(tmp_path / 'run'))
    restored = inference.load_model(run_dir)
    synth = inference.ControlsToAudio(restored.model, 16000, 64, block_frames=100)
    synth._layers.noise = None  # noise differs per piece
    n = 600
    f0 = (300.0 * 2 ** (np.sin(np.linspace(0, 6, n)) / 6)).astype(np.float32)
    ld = np.full(n, -25.0, np.float32)
    whole = inference.synthesize_pieces(synth, f0, ld, piece_frames=n)
    pieces = inference.synthesize_pieces(synth, f0, ld, piece_frames=170, warmup_frames=100)
    assert whole.shape == pieces.shape == (n * 64,)
    rel = np.sqrt(np.mean((whole - pieces) ** 2) / np.mean(whole**2))
    assert rel < 1e-4, rel  # a phase jump or a lost reverb tail would be ~1


# ------------------------------------------------------------------------ parity with ddsp 3.7.0
_REF_SCRIPT = r"""
import sys
import numpy as np
import tensorflow as tf
from ddsp.training import postprocessing as pp
d = dict(np.load(sys.argv[1]))
# ddsp computes power at 50 Hz and indexes it with the 250 Hz note mask (an IndexError in ddsp
# itself); power statistics are not ours to compare, so give power the loudness frame count.
pp.spectral_ops.compute_power = lambda audio, **kw: np.zeros(
    (audio.shape[0], d['loudness_db'].shape[1]), np.float32)

class Provider:
    def get_batch(self, batch_size, shuffle=True, repeats=1):
        keys = ('audio', 'f0_hz', 'f0_confidence', 'loudness_db')
        return tf.data.Dataset.from_tensor_slices({k: d[k] for k in keys}).batch(batch_size)

stats = pp.compute_dataset_statistics(Provider(), batch_size=2)
mask, ratio = pp.detect_notes(d['loudness_db'][0], d['f0_confidence'][0])
qt = stats['quantile_transform']
_, norm = pp.fit_quantile_transform(d['input_loudness'], d['input_mask'], inv_quantile=qt)
out = {k: np.float64(v) for k, v in stats.items() if k != 'quantile_transform'}
out.update(quantiles=qt.quantiles_[:, 0], mask=mask, ratio=ratio, norm=norm[:, 0])
np.savez(sys.argv[2], **out)
"""


@pytest.mark.parity
def test_dataset_statistics_and_loudness_mapping_match_ddsp(tmp_path):
    ref_python = os.environ.get('CLARINET_DDSP_REF_PYTHON') or os.path.join(
        inference_runs.REPO, '.venv-ref', 'bin', 'python'
    )
    if not os.path.exists(ref_python):
        pytest.fail(
            f'Parity tier: no reference interpreter at {ref_python}; run `make refenv` or '
            'set CLARINET_DDSP_REF_PYTHON.',
            pytrace=False,
        )
    rng = np.random.RandomState(0)
    n_ex, n_frames = 4, 250
    notes = rng.uniform(50, 80, size=(n_ex, 1))
    f0 = (440.0 * 2 ** ((notes + 0.2 * rng.randn(n_ex, n_frames) - 69) / 12)).astype(np.float32)
    conf = np.clip(rng.uniform(0.5, 1.1, (n_ex, n_frames)), 0, 1).astype(np.float32)
    conf[:, :40] = 0.05
    loud = np.linspace(-60, -10, n_frames)[None] + rng.randn(n_ex, n_frames)
    loud[:, :40] = -80.0
    loud = loud.astype(np.float32)
    audio = (0.1 * rng.randn(n_ex, 16000)).astype(np.float32)
    in_loud = np.linspace(-70.0, -40.0, 300).astype(np.float32)
    in_mask = np.zeros(300, bool)
    in_mask[30:270] = True
    inputs, outputs = str(tmp_path / 'in.npz'), str(tmp_path / 'out.npz')
    np.savez(
        inputs,
        audio=audio,
        f0_hz=f0,
        f0_confidence=conf,
        loudness_db=loud,
        input_loudness=in_loud,
        input_mask=in_mask,
    )
    env = dict(
        os.environ,
        TF_USE_LEGACY_KERAS='1',
        CUDA_VISIBLE_DEVICES='-1',
        TF_CPP_MIN_LOG_LEVEL='2',
        PYTHONPATH=os.path.join(inference_runs.REPO, 'tests', 'parity', 'ref_stubs'),
    )
    proc = subprocess.run(
        [ref_python, '-c', _REF_SCRIPT, inputs, outputs],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = np.load(outputs)

    ours = dataset_stats.statistics_from_features(f0, conf, loud)
    for key in (
        'mean_pitch',
        'std_pitch',
        'mean_max_pitch',
        'mean_pitch_note',
        'min_pitch_note',
        'mean_loudness',
        'mean_loudness_note',
        'max_loudness_note',
        'mean_min_loudness_note',
        'std_loudness_note',
    ):
        assert ours[key] == pytest.approx(float(ref[key]), rel=1e-4, abs=1e-3), key
    np.testing.assert_allclose(
        ours['quantile_transform']['quantiles'], ref['quantiles'], rtol=1e-5, atol=1e-4
    )
    mask, ratio = dataset_stats.detect_notes(loud[0], conf[0])
    np.testing.assert_array_equal(mask, ref['mask'])
    np.testing.assert_allclose(ratio, ref['ratio'], rtol=1e-4, atol=1e-5)
    transform = dataset_stats.QuantileTransformer.from_dict(ours['quantile_transform'])
    _, norm = dataset_stats.fit_quantile_transform(in_loud, in_mask, inv_quantile=transform)
    np.testing.assert_allclose(norm[:, 0], ref['norm'], rtol=1e-4, atol=1e-3)
