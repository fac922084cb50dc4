"""clarinet_ddsp_resynth: auto-adjusts, writes the WAV, names a missing input."""

import os
import subprocess
import sys

import inference_runs
import numpy as np
import pytest
import soundfile as sf

from clarinet_ddsp import spectral_ops
from clarinet_ddsp.data_prep import voice_model


@pytest.mark.slow
def test_resynth_cli_auto_adjusts_by_octaves_and_writes_the_wav(tmp_path):
    run_dir, _ = inference_runs.trained_run()
    # Training notes span MIDI 55-79 (mean 67); a melody around MIDI 43 is shifted up 2 octaves.
    audio, _ = voice_model.sung_vowel((42, 43, 45, 43), note_secs=0.4)
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
    assert np.median(np.abs(inference_runs.cents(f0_out[second], f0_target))) < 50.0
    assert os.path.exists(os.path.join(run_dir, 'dataset_statistics.json'))


@pytest.mark.slow  # a fresh interpreter (subprocess)
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


@pytest.mark.parametrize('peak', [0.5, 2.0])
def test_write_wav_in_blocks_equals_soundfile_writing_the_whole_signal(tmp_path, peak):
    # soundfile's own whole-array write is the reference; blocks of 7 samples cross nothing a WAV has.
    # Above full scale the output is scaled to a 0.99 peak, as the whole-array write of audio * 0.99 / peak.
    from clarinet_ddsp.cli import resynth

    rng = np.random.default_rng(0)
    audio = (peak * rng.uniform(-1, 1, 1000)).astype(np.float32)
    audio[10] = peak
    reference = tmp_path / 'reference.wav'
    sf.write(reference, audio * np.float32(min(1.0, 0.99 / peak)), 16000, subtype='PCM_16')
    written = tmp_path / 'sub' / 'out.wav'
    got = resynth.write_wav(str(written), audio, 16000, block=7)
    assert got == pytest.approx(min(peak, 0.99))
    assert written.read_bytes() == reference.read_bytes()
    assert sorted(p.name for p in written.parent.iterdir()) == ['out.wav']  # no partial file left
    # Through tf.io.gfile (another filesystem): the same bytes.
    import tensorflow as tf

    resynth.write_wav(f'ram://resynth_test/out_{peak}.wav', audio, 16000)
    with tf.io.gfile.GFile(f'ram://resynth_test/out_{peak}.wav', 'rb') as f:
        assert f.read() == reference.read_bytes()
