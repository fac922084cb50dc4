"""Analysis of a recording into the model's controls, in pieces as on the whole signal."""

import numpy as np
import pytest

from clarinet_ddsp import spectral_ops
from clarinet_ddsp.data_prep import voice_model
from clarinet_ddsp.inference import analysis
from tests.data_prep import audio_files
from tests.pitch.tolerances import F0_RTOL, SALIENCE_ATOL


def test_analysis_in_pieces_equals_the_whole_signal_analysis():
    audio, _ = voice_model.sung_vowel((55, 60, 64, 67, 72, 67, 64, 60), note_secs=0.8)
    whole = analysis.compute_features(audio, 16000, 64, crepe_model='tiny', piece_secs=1000.0)
    pieces = analysis.compute_features(audio, 16000, 64, crepe_model='tiny', piece_secs=1.5, context_secs=1.0)
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


def test_a_note_ending_in_digital_silence_keeps_its_pitch_to_its_end():
    # 147 Hz (a clarinet's low D) for 0.6 s, then silence. Resynthesis analyses with silent frames
    # carrying no pitch (pitch.SILENT_FRAME_DB), as the CPU recipe's data is prepared: every frame
    # wholly inside the note reads its pitch, frames of silence read 0 Hz.
    note = audio_files.tone(147.0, 0.6)
    audio = np.concatenate([note, np.zeros(8000)]).astype(np.float32)
    features = analysis.compute_features(audio, 16000, 64, crepe_model='tiny')
    starts = np.arange(features['f0_hz'].size) * 64  # 'same' frames: [start, start + 1024)
    inside = starts + 1024 <= note.size
    cents = 1200 * np.log2(features['f0_hz'][inside] / 147.0)
    assert np.max(np.abs(cents)) < 20, f'worst {np.max(np.abs(cents)):.0f} cents inside the note'
    np.testing.assert_array_equal(features['f0_hz'][starts >= note.size], 0.0)
    every_frame = analysis.compute_features(audio, 16000, 64, crepe_model='tiny', f0_skip_below_db=None)
    assert np.all(every_frame['f0_hz'] > 0)  # as ddsp: the network's guess for silence, too
