"""Summary helpers: TensorBoard's own reader finds scalars, text, audio and PNG images."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import summaries

sys.path.insert(0, os.path.dirname(__file__))
import eval_helpers as h

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _write(tmp_path, fn):
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        out = fn()
    return out, h.read_events(tmp_path)


def test_scalar_and_text_summaries_are_read_back(tmp_path):
    _, (acc, tags) = _write(
        tmp_path,
        lambda: (summaries.scalar_summary('losses/x', 2.5, 3), summaries.text_summary('config', 'a = 1', 3)),
    )
    assert h.scalar_values(acc, 'losses/x') == {3: 2.5}
    assert h.plugin_tags(acc, tags, 'text') == ['config']


def test_audio_summary_holds_each_example_as_wav(tmp_path):
    audio = np.stack([h.tone(440.0), h.tone(220.0)])
    _, (acc, tags) = _write(tmp_path, lambda: summaries.audio_summary(audio, 5, 16000, 'audio_x'))
    assert h.plugin_tags(acc, tags, 'audio') == ['audio_x']
    event = acc.Tensors('audio_x')[0]
    clips = tf.make_ndarray(event.tensor_proto)  # [k, 2]: encoded WAV, label
    assert event.step == 5 and clips.shape[0] == 2
    decoded, rate = tf.audio.decode_wav(clips[1, 0])
    assert int(rate) == 16000
    np.testing.assert_allclose(decoded.numpy()[:, 0], audio[1], atol=1 / 2**14)


def test_spectrogram_waveform_f0_summaries_are_png_images_with_ddsp_tags(tmp_path):
    audio = np.stack([h.tone(440.0), h.tone(220.0)])
    f0 = np.full((2, h.N_FRAMES, 1), 440.0)

    def write():
        pngs = summaries.spectrogram_summary(audio, 0.5 * audio, 9)
        summaries.waveform_summary(audio, 0.5 * audio, 9)
        summaries.f0_summary(f0, f0[:, :32] * 1.01, 9, name='f0_harmonic')
        return pngs

    pngs, (acc, tags) = _write(tmp_path, write)
    assert sorted(tags['images']) == sorted(
        [
            'spectrogram/1',
            'spectrogram/2',
            'waveform/full_1',
            'waveform/125ms_1',
            'waveform/full_2',
            'waveform/125ms_2',
            'f0_midi/f0_harmonic_1',
            'f0_midi/f0_harmonic_2',
        ]
    )
    image = acc.Images('spectrogram/2')[0]
    assert image.step == 9 and image.encoded_image_string == pngs[1]
    assert pngs[0].startswith(PNG_MAGIC) and image.width == 800 and image.height == 800


def test_log_magnitude_spectrogram_peaks_at_tone_bin():
    spec = summaries.log_magnitude_spectrogram(h.tone(1000.0, 8192, amp=1.0), size=768)
    # pad_end: ceil(n / hop) frames, hop = 768 / 4; FFT size 1024 (enclosing power of 2).
    assert spec.shape == (-(-8192 // 192), 513)
    assert np.argmax(spec[10]) == 64  # 1000 Hz / (16000 Hz / 1024)
    window_sum = 0.5 * 768  # Hann window: |X| peak = amp * sum(w) / 2
    assert spec[10].max() == pytest.approx(np.log(window_sum / 2), abs=0.05)


@pytest.mark.slow  # a fresh interpreter (subprocess)
def test_importing_training_leaves_matplotlibs_backend_alone():
    # A fresh interpreter with a non-Agg backend chosen by the user (as a notebook would): importing
    # the training package must not switch it, and neither must drawing a summary figure.
    code = (
        'import matplotlib; before = matplotlib.get_backend(); '
        'import clarinet_ddsp.training; from clarinet_ddsp.training import summaries; '
        'summaries.figure_to_png(summaries.f0_figure([440.0, 441.0], [440.0, 442.0])); '
        'assert matplotlib.get_backend() == before == "svg", (before, matplotlib.get_backend())'
    )
    env = {**os.environ, 'MPLBACKEND': 'svg', 'TF_CPP_MIN_LOG_LEVEL': '2'}
    command = [sys.executable, '-c', code]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
