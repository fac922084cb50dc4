"""Audio loading (any format/rate/channels -> mono at a target rate, streamed) and input validation."""

import os

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from clarinet_ddsp.data_prep import audio_io
from tests.data_prep import audio_files


def _peak_hz(x, rate):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 8 * len(x)))
    return np.fft.rfftfreq(8 * len(x), 1 / rate)[np.argmax(spec)]


def test_eight_channel_96k_24bit_is_mixed_to_mono_and_resampled(tmp_path):
    rate, secs = 96000, 1.5
    t = np.arange(int(secs * rate)) / rate
    channels = np.stack([0.1 * (c + 1) / 8 * np.sin(2 * np.pi * 440 * t + 0.1 * c) for c in range(8)], 1)
    path = str(tmp_path / 'multi.wav')
    sf.write(path, channels, rate, subtype='PCM_24')
    assert sf.info(path).channels == 8
    audio = audio_io.load_audio(path, 16000)
    assert audio.dtype == np.float32
    assert audio.shape == (int(secs * 16000),)
    # Independent reference: the channel mean resampled by scipy's polyphase filter.
    expected = scipy.signal.resample_poly(channels.mean(axis=1), 1, 6)
    core = slice(2000, 22000)
    assert np.max(np.abs(audio[core] - expected[core])) < 2e-3 * np.max(np.abs(expected))
    assert abs(_peak_hz(audio[core], 16000) - 440) < 1.0


def test_streamed_blocks_equal_whole_file_at_two_rates(tmp_path):
    path = audio_files.write_tone(str(tmp_path / 'a.flac'), 220, 2.3, rate=44100, channels=2)
    small = [b for b in audio_io.iter_audio_blocks(path, [16000, 22050], block_frames=4096)]
    big = [b for b in audio_io.iter_audio_blocks(path, [16000, 22050], block_frames=1 << 20)]
    for i, rate in enumerate((16000, 22050)):
        a = np.concatenate([b[i] for b in small])
        c = np.concatenate([b[i] for b in big])
        assert a.shape == c.shape == (int(2.3 * 44100 / 44100 * rate),)
        np.testing.assert_allclose(a, c, atol=1e-5)


@pytest.mark.parametrize('fmt', ['FLAC', 'OGG', 'MP3'])
def test_compressed_formats_load(tmp_path, fmt):
    path = str(tmp_path / f'x.{fmt.lower()}')
    sf.write(path, audio_files.tone(330, 1.0, 48000), 48000, format=fmt)
    audio = audio_io.load_audio(path, 16000)
    assert audio.shape == (16000,)
    assert abs(_peak_hz(audio[2000:14000], 16000) - 330) < 2.0


@pytest.mark.parametrize('kind', sorted(audio_files.REASONS))
def test_bad_file_is_rejected_by_path_with_reason(tmp_path, kind):
    path = audio_files.write_bad_files(str(tmp_path))[kind]
    with pytest.raises(audio_io.BadAudioFileError) as info:
        audio_io.validate_audio_file(path)
    assert str(info.value).startswith(path)
    assert audio_files.REASONS[kind] in str(info.value)


def test_good_file_validates_with_its_facts(tmp_path):
    path = audio_files.write_tone(str(tmp_path / 'ok.wav'), 440, 1.25, rate=22050, channels=2)
    info = audio_io.validate_audio_file(path)
    assert (info.sample_rate, info.channels, info.frames) == (22050, 2, int(1.25 * 22050))
    assert 0.1 < info.peak <= 1.0


def test_a_file_of_one_crepe_frame_is_usable_one_sample_less_is_not(tmp_path):
    ok = audio_files.write_tone(str(tmp_path / 'ok.wav'), 440, 1024 / 16000)
    assert audio_io.validate_audio_file(ok).frames == 1024
    short = audio_files.write_tone(str(tmp_path / 'short.wav'), 440, 1023 / 16000)
    with pytest.raises(audio_io.BadAudioFileError, match='63.9 ms long, shorter than one CREPE frame'):
        audio_io.validate_audio_file(short)


def test_glob_matching_nothing_is_one_line_naming_the_pattern(tmp_path):
    pattern = str(tmp_path / 'nothing' / '*.wav')
    with pytest.raises(ValueError) as info:
        audio_io.find_audio_files([pattern])
    assert pattern in str(info.value) and '\n' not in str(info.value)


def test_globs_are_expanded_sorted_and_deduplicated(tmp_path):
    for name in ('b.wav', 'a.wav'):
        audio_files.write_tone(str(tmp_path / name), 440, 0.1)
    paths = audio_io.find_audio_files([str(tmp_path / '*.wav'), str(tmp_path / 'a.wav'), ''])
    assert paths == [str(tmp_path / 'a.wav'), str(tmp_path / 'b.wav')]
    assert all(os.path.isfile(p) for p in paths)


def test_load_audio_mixes_to_mono_and_resamples(tmp_path):
    t = np.arange(44100) / 44100.0
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.1 * np.sin(2 * np.pi * 440 * t)], 1)
    path = str(tmp_path / 'stereo.wav')
    sf.write(path, stereo, 44100)
    audio = audio_io.load_audio(path, 16000)
    assert audio.shape == (16000,)
    assert np.max(np.abs(audio[1000:-1000])) == pytest.approx(0.3, abs=0.01)


def test_load_audio_names_an_unreadable_file(tmp_path):
    path = tmp_path / 'notes.wav'
    path.write_text('not audio')
    with pytest.raises(ValueError, match='notes.wav'):
        audio_io.load_audio(str(path), 16000)


def test_load_audio_names_a_file_holding_nan(tmp_path):
    path = str(tmp_path / 'nan.wav')
    samples = np.zeros(1000, np.float32)
    samples[500] = np.nan
    sf.write(path, samples, 16000, subtype='FLOAT')
    with pytest.raises(audio_io.BadAudioFileError, match='nan.wav: holds NaN or Inf'):
        audio_io.load_audio(path, 16000)


@pytest.mark.parametrize(
    'rate, channels, sample_rate, secs',
    [(16000, 1, 16000, 7.3), (44100, 2, 16000, 6.01), (48000, 2, 48000, 5.5), (22050, 1, 44100, 4.77)],
)
def test_chunks_read_by_span_equal_the_streamed_chunks(tmp_path, rate, channels, sample_rate, secs):
    from clarinet_ddsp.data_prep import examples as ex_lib

    rng = np.random.default_rng(0)
    x = 0.3 * rng.standard_normal((int(secs * rate), channels))
    path = str(tmp_path / 'noise.wav')
    sf.write(path, x, rate, subtype='FLOAT')
    rates = [sample_rate, 16000]
    chunking = dict(chunk_secs=1.5, example_secs=0.5, hop_secs=0.25)
    streamed = list(ex_lib.chunk_blocks(audio_io.iter_audio_blocks(path, rates), sample_rate, **chunking))
    n_audio, n_16k = (int(x.shape[0] / rate * r) for r in rates)
    spans = ex_lib.chunk_spans(n_audio, n_16k, sample_rate, **chunking)
    assert audio_io.is_seekable(path)
    assert len(spans) == len(streamed) >= 3
    for span, chunk in zip(spans, streamed):
        read = audio_io.read_span(path, span, rates)
        for got, want in zip(read, chunk):
            assert got.shape == want.shape and got.dtype == np.float32
            np.testing.assert_allclose(got, want, atol=2e-6, rtol=0)  # float32 rounding of soxr


def test_compressed_files_are_streamed_not_seeked(tmp_path):
    path = str(tmp_path / 'tone.ogg')
    sf.write(path, audio_files.tone(440, 1.0), 16000, format='OGG', subtype='VORBIS')
    assert not audio_io.is_seekable(path)
