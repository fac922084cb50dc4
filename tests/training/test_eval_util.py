"""evaluate / sample loops on a tiny model: real losses, metrics, summaries, files, checkpoint order."""

import json
import os
import sys
import threading
import time

import gin
import numpy as np
import pytest
import soundfile as sf

from clarinet_ddsp.training import eval_util, evaluators, metrics

sys.path.insert(0, os.path.dirname(__file__))
import eval_helpers as h

EVALUATORS = [evaluators.BasicEvaluator, evaluators.F0LdEvaluator]


@pytest.fixture
def fake_features(monkeypatch):
    monkeypatch.setattr(metrics, '_default_f0_fn', h.fft_pitch)
    monkeypatch.setattr(metrics, '_default_loudness_fn', h.numpy_loudness)


@pytest.fixture
def run_dir(tmp_path):
    """A 'training run': checkpoints at steps 10 and 20 of a sine model (gain 0.25 then 1.0)."""
    model = h.SineModel(gain=0.25)
    h.save_checkpoint(model, str(tmp_path), 10)
    model.gain.assign(1.0)
    h.save_checkpoint(model, str(tmp_path), 20)
    return tmp_path


def _provider():
    return h.ArrayProvider(h.tone_examples(f0s=(440.0, 330.0), amp=0.5))


def test_evaluate_logs_real_nonzero_losses_and_metrics_of_newest_checkpoint(run_dir, fake_features):
    model = h.SineModel(gain=0.0, pitch_ratio=2 ** (1 / 12))  # Restored gain: 1.0 (step 20).
    results = eval_util.evaluate(
        _provider(), model, EVALUATORS, save_dir=str(run_dir), batch_size=2, num_batches=2, run_once=True
    )
    data = h.tone_examples(f0s=(440.0, 330.0), amp=0.5)
    n = np.arange(1, h.N_SAMPLES + 1)  # The stand-in's phase is a cumsum: sample n at n + 1.
    gen = np.stack([np.sin(2 * np.pi * f * 2 ** (1 / 12) * n / h.SAMPLE_RATE) for f in (440, 330)])
    expected_l1 = np.mean(np.abs(data['audio'] - gen))  # The stand-in's loss, from numpy.
    expected_ld = np.mean(np.abs(h.numpy_loudness(gen) - data['loudness_db']))
    assert results['l1_loss'] == pytest.approx(expected_l1, rel=1e-3)
    assert results['total_loss'] == pytest.approx(expected_l1, rel=1e-3)
    assert results['loudness/loudness_db'] == pytest.approx(expected_ld, rel=1e-3)
    assert results['f0_crepe/f0_dist'] == pytest.approx(1.0, abs=0.03)
    # What the f0 metric measured, next to it: 4 examples (2 batches of 2) with EVALUATORS' CREPE.
    assert results['f0_crepe/num_examples'] == 4.0
    assert results['f0_crepe/crepe_model'] == 'full'

    on_disk = json.loads((run_dir / 'eval_results' / 'step_20.json').read_text())
    assert on_disk == pytest.approx({'step': 20, **results})
    assert json.loads((run_dir / 'eval_results' / 'latest.json').read_text()) == on_disk

    acc, tags = h.read_events(run_dir / 'summaries' / 'eval')
    for tag in (
        'losses/total_loss',
        'losses/l1_loss',
        'metrics/loudness/loudness_db',
        'metrics/f0_crepe/f0_dist',
        'metrics/f0_crepe/outlier_ratio',
    ):
        assert tag in tags['tensors'], tag
    assert list(h.scalar_values(acc, 'losses/total_loss')) == [20]  # run_once: newest only.
    assert h.scalar_values(acc, 'losses/total_loss')[20] == pytest.approx(expected_l1, rel=1e-3)
    assert h.scalar_values(acc, 'metrics/f0_crepe/f0_dist')[20] > 0.9
    assert h.scalar_values(acc, 'metrics/loudness/loudness_db')[20] > 1.0


def test_sample_writes_tensorboard_audio_images_and_wav_png_files(run_dir, fake_features):
    model = h.SineModel(gain=0.0)
    eval_util.sample(
        _provider(), model, EVALUATORS, save_dir=str(run_dir), batch_size=2, num_batches=1, run_once=True
    )
    acc, tags = h.read_events(run_dir / 'summaries' / 'eval')
    assert sorted(h.plugin_tags(acc, tags, 'audio')) == ['audio_generated', 'audio_original']
    assert {
        'spectrogram/1',
        'spectrogram/2',
        'waveform/full_1',
        'waveform/125ms_2',
        'f0_midi/f0_harmonic_1',
        'f0_midi/f0_crepe_2',
    } <= set(tags['images'])
    assert all(e.step == 20 for e in acc.Images('spectrogram/1'))
    out = run_dir / 'samples' / 'step_20'
    for i in (1, 2):
        gen, rate = sf.read(out / f'{i}_generated.wav', dtype='float32')
        assert rate == 16000 and gen.shape == (h.N_SAMPLES,)
        assert np.max(np.abs(gen)) == pytest.approx(1.0, abs=1e-3)  # Restored gain 1.0.
        assert (out / f'{i}_spectrogram.png').read_bytes().startswith(b'\x89PNG')
    orig, _ = sf.read(out / '2_original.wav', dtype='float32')
    np.testing.assert_array_equal(orig, h.tone(330.0, amp=0.5))
    assert not tags['tensors'] or 'losses/total_loss' not in tags['tensors']  # No eval in sample.


def test_evaluate_follows_new_checkpoints_until_run_until_step(tmp_path, fake_features):
    model = h.SineModel(gain=0.5)
    h.save_checkpoint(model, str(tmp_path), 1)

    def train_later():
        # Each checkpoint once the previous one's results are written: evaluate picks the newest, so a
        # fixed delay would skip step 2 on a machine slower than the delay.
        for step, gain in ((2, 0.7), (3, 0.9)):
            results = tmp_path / 'eval_results' / f'step_{step - 1}.json'
            deadline = time.monotonic() + 300
            while not results.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            h.save_checkpoint(h.SineModel(gain=gain), str(tmp_path), step)

    trainer = threading.Thread(target=train_later)
    trainer.start()
    try:
        eval_util.evaluate(
            _provider(),
            h.SineModel(),
            [evaluators.BasicEvaluator],
            save_dir=str(tmp_path),
            batch_size=2,
            num_batches=1,
            run_until_step=3,
            timeout_secs=30,  # each checkpoint comes ~0.1 s after the previous results
        )
    finally:
        trainer.join()
    acc, _ = h.read_events(tmp_path / 'summaries' / 'eval')
    losses = h.scalar_values(acc, 'losses/total_loss')
    assert sorted(losses) == [1, 2, 3]
    assert losses[1] != losses[2] != losses[3]  # Each step's own weights were restored.


def test_evaluate_stops_after_timeout_without_new_checkpoints(run_dir, fake_features):
    eval_util.evaluate(
        _provider(),
        h.SineModel(),
        [evaluators.BasicEvaluator],
        save_dir=str(run_dir / 'eval'),
        restore_dir=str(run_dir),
        batch_size=2,
        num_batches=1,
        timeout_secs=1.0,
    )
    # The wait after the last evaluation (results written) is the 1 s timeout plus at most one 1 s poll;
    # it is sleeping, not arithmetic, so 10 s holds on any machine.
    waited = time.time() - os.path.getmtime(run_dir / 'eval' / 'eval_results' / 'step_20.json')
    assert 1.0 <= waited < 10.0, waited
    acc, _ = h.read_events(run_dir / 'eval' / 'summaries' / 'eval')
    assert list(h.scalar_values(acc, 'losses/total_loss')) == [20]


def test_run_once_without_checkpoint_names_restore_dir(tmp_path):
    with pytest.raises(ValueError, match=f'restore_dir=.*{tmp_path.name}.*no checkpoint'):
        eval_util.evaluate(
            _provider(),
            h.SineModel(),
            [evaluators.BasicEvaluator],
            save_dir=str(tmp_path),
            batch_size=2,
            run_once=True,
        )


def test_missing_evaluators_and_bad_mode_are_explained(tmp_path):
    with pytest.raises(ValueError, match='evaluator_classes.*basic.gin'):
        eval_util.evaluate(_provider(), h.SineModel(), save_dir=str(tmp_path), run_once=True)
    with pytest.raises(ValueError, match="mode='train'"):
        eval_util.evaluate_or_sample(_provider(), h.SineModel(), EVALUATORS, mode='train')


def test_gin_configures_evaluate_and_sample_under_eval_util(run_dir, fake_features):
    gin.clear_config()
    gin.parse_config(
        [
            'evaluators = [@evaluators.BasicEvaluator]',
            'evaluate.evaluator_classes = %evaluators',
            'sample.evaluator_classes = %evaluators',
            'evaluate.batch_size = 1',
            'evaluate.num_batches = 3',
        ]
    )
    try:
        model = h.SineModel()
        eval_util.evaluate(_provider(), model, save_dir=str(run_dir), run_once=True)
    finally:
        gin.clear_config()
    assert model.n_calls == 3  # 3 batches of 1 example.


@pytest.mark.slow  # train, eval with CREPE, sample: tests/cli/test_run.py runs the same path in the fast tier
def test_writeup_eval_and_sample_on_trained_tiny_solo_instrument(tmp_path):
    """Train 1 step of the shrunk solo_instrument recipe, then eval and sample it as the CLI does:
    real SpectralLoss, package loudness, CREPE tiny on the generated audio."""
    from clarinet_ddsp.training import gin_config, models, train_util, trainers
    from tests.training import tiny

    pattern = tiny.write_tfrecords(str(tmp_path / 'data' / 'train.tfrecord'), n_examples=2, n_shards=1)
    run_dir = str(tmp_path / 'run')
    gin.clear_config()
    try:
        gin_config.parse_gin(
            run_dir,
            ['papers/iclr2020/solo_instrument.gin'],
            tiny.SHRINK_PARAMS
            + [f"TFRecordProvider.file_pattern = '{pattern}'", "F0LdEvaluator.crepe_model = 'tiny'"],
            [],
        )
        train_util.train(
            data_provider=gin.REQUIRED,
            trainer=trainers.Trainer(models.get_model()),
            save_dir=run_dir,
            restore_dir=run_dir,
        )
        results = eval_util.evaluate(
            data_provider=gin.REQUIRED,
            model=models.get_model(),
            save_dir=run_dir,
            restore_dir=run_dir,
            run_once=True,
        )
        eval_util.sample(
            data_provider=gin.REQUIRED,
            model=models.get_model(),
            save_dir=run_dir,
            restore_dir=run_dir,
            run_once=True,
        )
    finally:
        gin.clear_config()

    assert results['spectral_loss'] > 0 and results['total_loss'] >= results['spectral_loss']
    assert results['loudness/loudness_db'] > 0
    acc, tags = h.read_events(os.path.join(run_dir, 'summaries', 'eval'))
    assert h.scalar_values(acc, 'losses/total_loss')[1] == pytest.approx(results['total_loss'])
    assert h.scalar_values(acc, 'losses/spectral_loss')[1] > 0
    assert h.scalar_values(acc, 'metrics/loudness/loudness_db')[1] > 0
    # An untrained model's pitch: either measured (f0_dist) or counted as untrackable.
    f0_tags = {'metrics/f0_crepe/outlier_ratio', 'metrics/f0_crepe/f0_dist'} & set(tags['tensors'])
    assert 'metrics/f0_crepe/outlier_ratio' in f0_tags
    assert sorted(h.plugin_tags(acc, tags, 'audio')) == ['audio_generated', 'audio_original']
    assert {'spectrogram/1', 'spectrogram/2', 'waveform/full_1', 'f0_midi/f0_crepe_1'} <= set(tags['images'])
    out = os.path.join(run_dir, 'samples', 'step_1')
    for i in (1, 2):
        gen, rate = sf.read(os.path.join(out, f'{i}_generated.wav'), dtype='float32')
        assert rate == 16000 and gen.shape == (tiny.N_SAMPLES,) and np.all(np.isfinite(gen))
        assert os.path.getsize(os.path.join(out, f'{i}_spectrogram.png')) > 1000
