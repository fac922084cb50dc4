"""Evaluators: averaged losses, loudness and CREPE-f0 metrics of generated audio, sample files."""

import os
import sys

import gin
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from clarinet_ddsp.training import evaluators, metrics

sys.path.insert(0, os.path.dirname(__file__))
import eval_helpers as h


@pytest.fixture
def fake_features(monkeypatch):
    """Package loudness/CREPE replaced by the numpy references (speed, independence)."""
    monkeypatch.setattr(metrics, '_default_f0_fn', h.fft_pitch)
    monkeypatch.setattr(metrics, '_default_loudness_fn', h.numpy_loudness)


def test_basic_evaluator_averages_losses_and_writes_them(tmp_path):
    ev = evaluators.BasicEvaluator(16000, 250)
    ev.evaluate({}, {}, {'spectral_loss': tf.constant(2.0), 'total_loss': np.float32(3.0)})
    ev.evaluate({}, {}, {'spectral_loss': 4.0, 'total_loss': 5.0})
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        assert ev.flush(12) == {'spectral_loss': 3.0, 'total_loss': 4.0}
    acc, _ = h.read_events(tmp_path)
    assert h.scalar_values(acc, 'losses/total_loss') == {12: 4.0}
    assert h.scalar_values(acc, 'losses/spectral_loss') == {12: 3.0}


def test_basic_evaluator_sample_writes_wav_and_png_files_numbered_across_batches(tmp_path):
    ev = evaluators.BasicEvaluator(16000, 250)
    ev.set_save_dir(str(tmp_path))
    audio = np.stack([h.tone(440.0), h.tone(220.0)])
    with tf.summary.create_file_writer(str(tmp_path / 'tb')).as_default():
        ev.sample({'audio': audio}, {'audio_gen': 0.5 * audio}, 30)
        ev.sample({'audio': audio[:1]}, {'audio_gen': 0.25 * audio[:1]}, 30)
    out = tmp_path / 'samples' / 'step_30'
    assert sorted(os.listdir(out)) == sorted(
        f'{i}_{kind}' for i in (1, 2, 3) for kind in ('original.wav', 'generated.wav', 'spectrogram.png')
    )
    gen, rate = sf.read(out / '3_generated.wav', dtype='float32')
    assert rate == 16000
    np.testing.assert_array_equal(gen, 0.25 * audio[0])
    orig, _ = sf.read(out / '2_original.wav', dtype='float32')
    np.testing.assert_array_equal(orig, audio[1])
    assert (out / '1_spectrogram.png').read_bytes().startswith(b'\x89PNG')
    acc, tags = h.read_events(tmp_path / 'tb')
    assert {'spectrogram/1', 'spectrogram/3', 'waveform/full_3'} <= set(tags['images'])
    assert sorted(h.plugin_tags(acc, tags, 'audio')) == ['audio_generated', 'audio_original']


def test_f0ld_evaluator_measures_generated_audio_not_input_f0(tmp_path, fake_features):
    batch = h.tone_examples(f0s=(440.0, 330.0))
    # The model's outputs carry the input f0 (as ddsp's do), but the audio is 1 semitone sharp.
    outputs = {
        'f0_hz': batch['f0_hz'][..., None],
        'audio_gen': np.stack([h.tone(440.0 * 2 ** (1 / 12)), h.tone(330.0 * 2 ** (1 / 12))]) * 2.0,
    }
    ev = evaluators.F0LdEvaluator(16000, 250)
    ev.evaluate(batch, outputs, {})
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        results = ev.flush(4)
    assert results['f0_crepe/f0_dist'] == pytest.approx(1.0, abs=0.03)
    assert results['f0_crepe/outlier_ratio'] == 0.0
    expected_ld = np.mean(np.abs(h.numpy_loudness(outputs['audio_gen']) - batch['loudness_db']))
    assert expected_ld > 6.0  # x2 gain (+6.02 dB) plus the A-weighting of the shifted pitch.
    assert results['loudness/loudness_db'] == pytest.approx(expected_ld, rel=1e-5)
    assert 'f0/f0_dist' not in results  # The model predicts no f0 of its own.
    acc, _ = h.read_events(tmp_path)
    assert h.scalar_values(acc, 'metrics/f0_crepe/f0_dist')[4] == pytest.approx(1.0, abs=0.03)
    assert h.scalar_values(acc, 'metrics/loudness/loudness_db')[4] > 5.5


def test_f0ld_evaluator_sample_plots_input_vs_crepe_f0_and_saves_png(tmp_path, fake_features):
    batch = h.tone_examples(f0s=(440.0,))
    outputs = {'f0_hz': batch['f0_hz'], 'audio_gen': batch['audio']}
    ev = evaluators.F0LdEvaluator(16000, 250)
    ev.set_save_dir(str(tmp_path))
    with tf.summary.create_file_writer(str(tmp_path / 'tb')).as_default():
        ev.sample(batch, outputs, 2)
        ev.sample(batch, outputs, 2)
    acc, tags = h.read_events(tmp_path / 'tb')
    assert sorted(tags['images']) == [
        'f0_midi/f0_crepe_1',
        'f0_midi/f0_crepe_2',
        'f0_midi/f0_harmonic_1',
        'f0_midi/f0_harmonic_2',
    ]
    saved = (tmp_path / 'samples' / 'step_2' / '2_f0.png').read_bytes()
    assert saved == acc.Images('f0_midi/f0_crepe_2')[0].encoded_image_string


def test_f0ld_evaluator_passes_crepe_capacity_and_rejects_unknown(monkeypatch):
    seen = []

    def pitch(audio, frame_rate, padding, model_capacity):
        seen.append((model_capacity, padding))
        return h.fft_pitch(audio, frame_rate, padding)

    monkeypatch.setattr(metrics, '_default_f0_fn', pitch)
    monkeypatch.setattr(metrics, '_default_loudness_fn', h.numpy_loudness)
    batch = h.tone_examples(f0s=(440.0,))
    ev = evaluators.F0LdEvaluator(16000, 250, crepe_model='tiny')
    ev.evaluate(batch, {'audio_gen': batch['audio']}, {})
    assert seen == [('tiny', 'same')]  # 64 frames for 4096 samples: prepare_tfrecord's 'same'.
    with pytest.raises(ValueError, match="crepe_model='huge'.*tiny"):
        evaluators.F0LdEvaluator(16000, 250, crepe_model='huge')


@gin.configurable
def _collect_evaluators(evaluator_classes=None):
    return evaluator_classes


def test_evaluators_are_gin_configurable_under_ddsp_names():
    gin.clear_config()
    gin.parse_config(
        [
            "F0LdEvaluator.crepe_model = 'tiny'",
            'evaluators = [@evaluators.BasicEvaluator, @evaluators.F0LdEvaluator]',
            '_collect_evaluators.evaluator_classes = %evaluators',
        ]
    )
    try:
        built = [cls(16000, 250) for cls in _collect_evaluators()]
    finally:
        gin.clear_config()
    assert isinstance(built[0], evaluators.BasicEvaluator)
    assert isinstance(built[1], evaluators.F0LdEvaluator)
    assert built[1]._crepe_model == 'tiny'  # The gin binding reached the constructor.


def test_f0ld_evaluator_with_real_crepe_tiny_loads_it_once_and_measures_a_semitone(monkeypatch):
    from clarinet_ddsp.pitch import model as crepe_model

    built = []

    class CountingCrepe(crepe_model.CrepeModel):
        def __init__(self, *args, **kwargs):
            built.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(crepe_model, 'CrepeModel', CountingCrepe)
    monkeypatch.setattr(crepe_model, '_CACHE', {})
    batch = h.tone_examples(f0s=(440.0, 330.0))
    sharp = np.stack([h.tone(466.16), h.tone(330.0 * 2 ** (1 / 12))])
    ev = evaluators.F0LdEvaluator(16000, 250, crepe_model='tiny')
    for _ in range(2):
        ev.evaluate(batch, {'audio_gen': sharp}, {})
    ev.sample(batch, {'audio_gen': sharp, 'f0_hz': batch['f0_hz']}, 1)
    assert len(built) == 1  # One CREPE for 4 examples x 2 batches and the sample plots.
    results = ev._f0_crepe_metrics.metrics
    assert results['f0_dist'].result() == pytest.approx(1.0, abs=0.1)  # CREPE within 10 cents.
    assert results['outlier_ratio'].result() == 0.0


def test_f0_metric_measures_the_first_num_f0_crepe_examples_in_batched_calls_and_says_so(
    monkeypatch, tmp_path
):
    calls = []

    def pitch(audio, frame_rate, padding, model_capacity):
        calls.append((audio.shape[0], model_capacity))
        return h.fft_pitch(audio, frame_rate, padding)

    monkeypatch.setattr(metrics, '_default_f0_fn', pitch)
    monkeypatch.setattr(metrics, '_default_loudness_fn', h.numpy_loudness)
    batch = h.tone_examples(f0s=(440.0, 330.0))
    unreliable = h.tone_examples(f0s=(220.0, 262.0))
    unreliable['f0_confidence'][0] = 0.1  # never confident: neither measured nor counted
    sharp = {'audio_gen': np.stack([h.tone(466.16), h.tone(330.0 * 2 ** (1 / 12))])}
    ev = evaluators.F0LdEvaluator(16000, 250, crepe_model='tiny', num_f0_crepe_examples=3)
    for features, outputs in (
        (batch, sharp),
        (unreliable, {'audio_gen': unreliable['audio']}),
        (batch, sharp),
    ):
        ev.evaluate(features, outputs, {})
    # One call per batch, with the examples of the subset only: 2, then the confident one of 2, then none.
    assert calls == [(2, 'tiny'), (1, 'tiny')]
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        results = ev.flush(7)
    assert results['f0_crepe/num_examples'] == 3.0
    assert results['f0_crepe/crepe_model'] == 'tiny'
    # Two examples a semitone sharp, one on pitch.
    assert results['f0_crepe/f0_dist'] == pytest.approx(2 / 3, abs=0.02)
    acc, tags = h.read_events(tmp_path)
    assert h.scalar_values(acc, 'metrics/f0_crepe/num_examples') == {7: 3.0}
    assert 'metrics/f0_crepe/settings' in h.plugin_tags(acc, tags, 'text')
    text = tf.make_ndarray(acc.Tensors('metrics/f0_crepe/settings')[0].tensor_proto).item().decode()
    assert 'CREPE tiny' in text and '3 generated examples' in text and 'of 6 evaluated, 5 had' in text


def test_loudness_covers_every_example_when_the_f0_metric_takes_a_subset(fake_features):
    ev = evaluators.F0LdEvaluator(16000, 250, num_f0_crepe_examples=1)
    batch = h.tone_examples(f0s=(440.0, 330.0))
    for _ in range(3):
        ev.evaluate(batch, {'audio_gen': batch['audio']}, {})
    assert ev._loudness_metrics.metrics['loudness_db'].count == 6
    assert ev._f0_crepe_metrics.metrics['outlier_ratio'].count == 1


@pytest.mark.parametrize(
    'bad,match',
    [
        (dict(num_f0_crepe_examples=0), 'num_f0_crepe_examples=0'),
        (dict(sample_crepe_model='huge'), "sample_crepe_model='huge'"),
    ],
)
def test_f0ld_evaluator_rejects_bad_crepe_settings_naming_them(bad, match):
    with pytest.raises(ValueError, match=match):
        evaluators.F0LdEvaluator(16000, 250, **bad)


def test_sample_plots_use_sample_crepe_model(monkeypatch, tmp_path):
    seen = []

    def pitch(audio, frame_rate, padding, model_capacity):
        seen.append((audio.shape[0], model_capacity))
        return h.fft_pitch(audio, frame_rate, padding)

    monkeypatch.setattr(metrics, '_default_f0_fn', pitch)
    batch = h.tone_examples(f0s=(440.0, 330.0, 220.0))
    ev = evaluators.F0LdEvaluator(16000, 250, crepe_model='full', sample_crepe_model='tiny')
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        ev.sample(batch, {'audio_gen': batch['audio']}, 1)
    assert seen == [(3, 'tiny')]  # the whole batch in one call


def _harmonic_sinusoids(f0_hz, n_frames=8, n_sinusoids=6):
    """Sinusoidal controls of a harmonic series at f0_hz (amplitudes 1/k), [2, n_frames, n_sinusoids]."""
    k = np.arange(1, n_sinusoids + 1, dtype=np.float32)
    freqs = np.broadcast_to(f0_hz * k, (2, n_frames, n_sinusoids)).astype(np.float32)
    amps = np.broadcast_to(1.0 / k, (2, n_frames, n_sinusoids)).astype(np.float32)
    return {'sinusoidal': {'controls': {'frequencies': freqs, 'amplitudes': amps}}}


def test_twm_evaluator_finds_the_fundamental_of_the_sinusoids(tmp_path):
    ev = evaluators.TWMEvaluator(16000, 250)
    confident = np.full((2, 8), 0.95, np.float32)
    # The sinusoids are a harmonic series at 220 Hz: against an input f0 of 220 Hz the distance is 0,
    # against 330 Hz it is 12 * log2(330 / 220) semitones.
    ev.evaluate({'f0_hz': np.full((2, 8), 220.0), 'f0_confidence': confident}, _harmonic_sinusoids(220.0), {})
    assert ev.flush(1) == {
        'f0_twm/f0_dist': 0.0,
        'f0_twm/raw_pitch_accuracy': 1.0,
        'f0_twm/raw_chroma_accuracy': 1.0,
    }
    ev.evaluate({'f0_hz': np.full((2, 8), 330.0), 'f0_confidence': confident}, _harmonic_sinusoids(220.0), {})
    results = ev.flush(2)
    assert results['f0_twm/f0_dist'] == pytest.approx(12 * np.log2(1.5), abs=1e-4)
    assert results['f0_twm/raw_pitch_accuracy'] == 0.0
    with pytest.raises(KeyError, match="no 'sinusoidal' controls"):
        ev.evaluate({}, {'harmonic': {}}, {})


def test_eval_basic_f0_ld_twm_gin_builds_the_three_evaluators():
    from clarinet_ddsp.training import gin_config

    gin_config.parse_gin('', ['eval/basic_f0_ld_twm.gin'])
    try:
        with gin.unlock_config():
            gin.parse_config('_collect_evaluators.evaluator_classes = %evaluators')
        built = [cls(16000, 250) for cls in _collect_evaluators()]
    finally:
        gin.clear_config()
    assert [type(e).__name__ for e in built] == ['BasicEvaluator', 'F0LdEvaluator', 'TWMEvaluator']
