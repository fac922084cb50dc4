"""Unit conversions and scaling functions against their numpy formulas."""

import numpy as np
import pytest

from clarinet_ddsp import core


def test_midi_to_hz_matches_equal_temperament():
    notes = np.array([0.0, 21.0, 57.5, 69.0, 81.0, 127.0])
    expected = 440.0 * 2.0 ** ((notes - 69.0) / 12.0)
    np.testing.assert_allclose(core.midi_to_hz(notes).numpy(), expected, rtol=1e-6)


def test_midi_zero_silence_maps_midi_zero_to_zero_hz():
    hz = core.midi_to_hz(np.array([0.0, 69.0]), midi_zero_silence=True).numpy()
    np.testing.assert_allclose(hz, [0.0, 440.0], rtol=1e-6)


def test_hz_to_midi_inverts_midi_to_hz_and_maps_zero_hz_to_zero():
    hz = np.array([0.0, 27.5, 261.6256, 440.0, 4186.009])
    expected = np.array([0.0, 21.0, 60.0, 69.0, 108.0])
    np.testing.assert_allclose(core.hz_to_midi(hz).numpy(), expected, atol=1e-4)


def test_numpy_midi_conversions_hit_known_notes_in_float64():
    # A4 = 440 Hz, C4 = 261.6256 Hz (equal temperament), A0 = 27.5 Hz; 0 Hz is unvoiced -> MIDI 0.
    hz = core.midi_to_hz_np([21.0, 60.0, 69.0, 81.0])
    assert hz.dtype == np.float64
    np.testing.assert_allclose(hz, [27.5, 261.6255653, 440.0, 880.0], rtol=1e-9)
    np.testing.assert_array_equal(core.midi_to_hz_np([0.0, 69.0], midi_zero_silence=True), [0.0, 440.0])
    midi = core.hz_to_midi_np([440.0, 880.0, 261.6255653, 0.0, -1.0])
    np.testing.assert_allclose(midi, [69.0, 81.0, 60.0, 0.0, 0.0], atol=1e-7)


def test_numpy_and_tensorflow_midi_conversions_agree():
    notes = np.linspace(1.0, 127.0, 50)
    np.testing.assert_allclose(core.midi_to_hz_np(notes), core.midi_to_hz(notes).numpy(), rtol=1e-6)
    hz = core.midi_to_hz_np(notes)
    np.testing.assert_allclose(core.hz_to_midi_np(hz), core.hz_to_midi(hz).numpy(), atol=1e-4)


def test_exp_sigmoid_matches_formula_and_bounds():
    x = np.linspace(-20.0, 20.0, 41)
    expected = 2.0 * (1.0 / (1.0 + np.exp(-x))) ** np.log(10.0) + 1e-7
    got = core.exp_sigmoid(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-12)
    assert got.min() >= 1e-7 and got.max() <= 2.0 + 1e-6


def test_safe_log_replaces_non_positive_inputs_with_eps():
    got = core.safe_log(np.array([0.0, -1.0, np.e], dtype=np.float32)).numpy()
    np.testing.assert_allclose(got, [np.log(1e-5), np.log(1e-5), 1.0], rtol=1e-6)


def test_amplitude_to_db_is_20_log10_floored_at_range():
    amp = np.array([1.0, 0.1, 1e-3, 1e-6], dtype=np.float32)
    expected = np.maximum(20.0 * np.log10(amp), -80.0)
    np.testing.assert_allclose(core.amplitude_to_db(amp).numpy(), expected, atol=1e-3)
    np.testing.assert_allclose(core.amplitude_to_db(amp, use_tf=False), expected, atol=1e-6)


def test_db_to_amplitude_inverts_amplitude_to_db():
    db = np.array([-60.0, -20.0, 0.0, 6.0])
    np.testing.assert_allclose(core.db_to_amplitude(db), 10.0 ** (db / 20.0), rtol=1e-12)


def test_hz_to_mel_matches_htk_formula():
    hz = np.array([0.0, 100.0, 1000.0, 8000.0], dtype=np.float32)
    expected = 2595.0 * np.log10(1.0 + hz / 700.0)
    np.testing.assert_allclose(core.hz_to_mel(hz).numpy(), expected, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(core.mel_to_hz(expected), hz, rtol=1e-6, atol=1e-6)


def test_unit_to_hz_is_log_spaced_between_bounds():
    got = core.unit_to_hz(np.array([0.0, 0.5, 1.0]), hz_min=100.0, hz_max=400.0).numpy()
    np.testing.assert_allclose(got, [100.0, 200.0, 400.0], rtol=1e-4)
    back = core.hz_to_unit(got, hz_min=100.0, hz_max=400.0).numpy()
    np.testing.assert_allclose(back, [0.0, 0.5, 1.0], atol=1e-5)


def test_diff_rejects_out_of_range_axis():
    with pytest.raises(ValueError, match='axis=3'):
        core.diff(np.zeros([2, 3], np.float32) + core.tf_float32(0.0), axis=3)


def test_diff_matches_numpy_diff():
    x = np.random.RandomState(0).randn(2, 5, 4).astype(np.float32)
    for axis in (0, 1, 2, -1):
        np.testing.assert_allclose(
            core.diff(core.tf_float32(x), axis=axis).numpy(), np.diff(x, axis=axis), rtol=1e-6
        )


def test_nested_lookup_finds_nested_keys_and_names_missing_ones():
    d = {'a': {'b': 1, 'c': {'d': 2}}}
    assert core.nested_lookup('a/c/d', d) == 2
    assert sorted(core.nested_keys(d)) == ['a/b', 'a/c/d']
    with pytest.raises(KeyError, match="'x'"):
        core.nested_lookup('a/x', d)


def test_frequencies_critical_bands_sit_at_bark_centres_and_move_by_their_erb():
    # Zero network output -> the centres, evenly spaced in bark; tanh(x) -> centre + ERB * tanh(x).
    hz_min, hz_max, n = 50.0, 6000.0, 12
    bark = np.linspace(core.hz_to_bark(hz_min), core.hz_to_bark(hz_max), n)
    centres = 1960.0 / (26.81 / (bark + 0.53) - 1.0)
    erb = 0.108 * centres + 24.7
    soft = lambda x: np.logaddexp(0, x) + hz_min - np.logaddexp(0, x - (hz_max - hz_min))  # noqa: E731
    x = np.zeros([1, 2, n], np.float32)
    x[0, 1] = 0.7
    out = core.frequencies_critical_bands(x, hz_min=hz_min, hz_max=hz_max).numpy()[0]
    np.testing.assert_allclose(out[0], soft(centres), rtol=1e-5)
    np.testing.assert_allclose(out[1], soft(centres + erb * np.tanh(0.7)), rtol=1e-5)


def test_frequencies_critical_bands_rejects_an_unknown_scale():
    with pytest.raises(ValueError, match=r"scale='erb' must be 'bark' or 'mel'"):
        core.frequencies_critical_bands(np.zeros([1, 2, 3], np.float32), scale='erb')
