"""The sung-vowel voice model: the pitch it is asked for."""

import numpy as np

from clarinet_ddsp.data_prep import voice_model


def test_sung_vowel_has_the_requested_pitch():
    audio, f0 = voice_model.sung_vowel((57,), note_secs=0.6, vibrato_cents=0.0, gap_secs=0.0)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    freqs = np.fft.rfftfreq(audio.size, 1 / 16000)
    voiced = f0[f0 > 0]
    assert np.allclose(voiced, 220.0)
    # Harmonics of 220 Hz only: the strongest peak sits on a multiple of it.
    peak = freqs[np.argmax(spectrum)]
    assert abs(peak / 220.0 - round(peak / 220.0)) < 0.02
