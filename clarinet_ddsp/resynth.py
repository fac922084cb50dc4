"""Timbre transfer: any monophonic recording -> f0 and loudness -> the trained instrument.

The adjustments are those of ddsp's timbre-transfer notebook: shift the pitch by whole octaves
toward the training data's mean pitch, map note-on loudness onto the training data's loudness
distribution (quantile transform), turn note-off frames down, then apply the user's shifts.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np
from absl import logging

from clarinet_ddsp import core
from clarinet_ddsp.training import dataset_stats

# The notebook's defaults.
NOTE_THRESHOLD = 1.0
QUIET_DB = 20.0
MAX_MIDI = 110.0  # f0 is clipped to midi_to_hz(110), as the notebook does.


@dataclasses.dataclass
class Adjustment:
    """What was done to the features."""

    octave_shift_auto: int = 0  # octaves applied by auto-adjust
    loudness_mapped: bool = False  # note-on loudness was quantile-mapped
    n_note_on_frames: int = 0
    semitones_total: float = 0.0  # all pitch shifting together, in semitones


def load_audio(path: str, sample_rate: int) -> np.ndarray:
    """Reads any libsndfile format, mixes to mono and resamples (soxr) to sample_rate.

    Raises:
      ValueError: the file cannot be read, is empty, or holds NaN/Inf.
    """
    import soundfile as sf

    try:
        audio, file_rate = sf.read(path, dtype='float32', always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as error:
        raise ValueError(
            f'--input={path}: cannot read it as audio ({error}); give a WAV, FLAC, OGG or MP3 file.'
        ) from error
    if audio.size == 0:
        raise ValueError(f'--input={path}: the file holds no samples; give a recording.')
    audio = audio.mean(axis=1)
    if not np.all(np.isfinite(audio)):
        raise ValueError(f'--input={path}: the audio holds NaN or Inf samples; re-export it.')
    if file_rate != sample_rate:
        import soxr

        audio = soxr.resample(audio, file_rate, sample_rate).astype(np.float32)
    return audio


def compute_features(
    audio: np.ndarray,
    sample_rate: int,
    hop_size: int,
    crepe_model: str = 'full',
    viterbi: bool = True,
    piece_secs: float = 60.0,
    context_secs: float = 2.0,
) -> dict[str, np.ndarray]:
    """f0 (CREPE), its confidence and loudness, frame-exact for the model, in bounded memory.

    The audio is zero-padded to a whole number of hops, so n_frames = ceil(n_samples / hop) and
    the resynthesis is n_frames * hop samples long. f0 frames are 'same'-padded, as
    prepare_tfrecord's default; loudness frames are centred on the frame times, as the model's
    F0LoudnessPreprocessor computes them from audio during training. Long inputs are analysed in
    pieces of piece_secs: loudness frames are exactly the whole signal's; CREPE sees context_secs
    of audio either side, so only its Viterbi smoothing could differ near piece boundaries.

    Args:
      audio: mono [n_samples] at sample_rate.
      sample_rate: the model's rate in Hz.
      hop_size: the model's samples per frame.
      crepe_model: CREPE capacity ('full' or 'tiny').
      viterbi: CREPE's Viterbi decoding.
      piece_secs: analysis piece length (memory grows with it, not with the input).
      context_secs: CREPE context either side of a piece.

    Returns:
      {'audio' [n_frames * hop], 'f0_hz', 'f0_confidence', 'loudness_db' [n_frames]} (float32).
    """
    from clarinet_ddsp import spectral_ops

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    n_frames = int(math.ceil(audio.size / hop_size))
    audio = np.pad(audio, (0, n_frames * hop_size - audio.size))
    frame_rate = sample_rate / hop_size
    if abs(frame_rate - round(frame_rate)) > 1e-9:
        raise ValueError(
            f"The model's hop of {hop_size} samples at {sample_rate} Hz is not a whole "
            'frame rate; resynthesis needs sample_rate / hop to be an integer.'
        )
    frame_rate = int(round(frame_rate))
    crepe_rate = spectral_ops.CREPE_SAMPLE_RATE
    audio_16k = audio
    if sample_rate != crepe_rate:
        import soxr

        audio_16k = soxr.resample(audio, sample_rate, crepe_rate).astype(np.float32)
    hop_16k = crepe_rate // frame_rate
    piece = max(1, int(piece_secs * frame_rate))
    context = int(math.ceil(context_secs * frame_rate))
    if crepe_rate % frame_rate:
        piece = n_frames  # CREPE frames would not line up with pieces; analyse whole.
    n_fft = 512  # compute_loudness's default
    f0_hz = np.zeros(n_frames, np.float32)
    f0_confidence = np.zeros(n_frames, np.float32)
    loudness_db = np.zeros(n_frames, np.float32)
    for start in range(0, n_frames, piece):
        stop = min(n_frames, start + piece)
        if n_frames > piece:
            logging.info('Analysing frames %d-%d of %d', start, stop, n_frames)
        # CREPE: 'same' frames of the piece plus context (frame i starts at sample i * hop).
        lo, hi = max(0, start - context), min(n_frames, stop + context)
        segment = audio_16k[lo * hop_16k : hi * hop_16k]
        if piece >= n_frames:
            segment = audio_16k
        f0, conf = spectral_ops.compute_f0(
            segment, frame_rate, viterbi=viterbi, padding='same', model_capacity=crepe_model
        )
        f0_hz[start:stop] = np.asarray(f0, np.float32).reshape(-1)[start - lo : stop - lo]
        f0_confidence[start:stop] = np.asarray(conf, np.float32).reshape(-1)[start - lo : stop - lo]
        # Loudness: frames centred on the frame times, zeros outside the signal ('center').
        begin, end = start * hop_size - n_fft // 2, (stop - 1) * hop_size + n_fft // 2
        segment = audio[max(0, begin) : min(audio.size, end)]
        segment = np.pad(segment, (max(0, -begin), max(0, end - audio.size)))
        loudness = spectral_ops.compute_loudness(
            segment,
            sample_rate=sample_rate,
            frame_rate=frame_rate,
            n_fft=n_fft,
            padding='valid',
            use_tf=False,
        )
        loudness_db[start:stop] = np.asarray(loudness, np.float32).reshape(-1)[: stop - start]
    return {'audio': audio, 'f0_hz': f0_hz, 'f0_confidence': f0_confidence, 'loudness_db': loudness_db}


def auto_adjust(
    features: dict[str, np.ndarray],
    stats: dict[str, Any],
    note_threshold: float = NOTE_THRESHOLD,
    quiet_db: float = QUIET_DB,
) -> tuple[dict[str, np.ndarray], Adjustment]:
    """The notebook's automatic adjustment toward the training data (ddsp's timbre transfer).

    On detected note-on frames: shift f0 by the whole number of octaves nearest to the distance
    from the training data's mean (note-on) pitch,
    map loudness onto the training data's note-on loudness distribution; turn note-off frames
    down by up to quiet_db.

    Args:
      features: 'f0_hz', 'f0_confidence', 'loudness_db' [n_frames].
      stats: dataset statistics (dataset_stats.load_dataset_statistics).

    Returns:
      Adjusted copies of the features and what was done.
    """
    features = dict(features)
    adjustment = Adjustment()
    loudness_db = np.asarray(features['loudness_db'], dtype=np.float64)
    mask_on, note_on_value = dataset_stats.detect_notes(
        loudness_db, features['f0_confidence'], note_threshold
    )
    adjustment.n_note_on_frames = int(np.sum(mask_on))
    if not np.any(mask_on):
        logging.warning('Auto-adjust: no notes detected in the input; features left as they are.')
        return features, adjustment

    # Octave shift toward the training data's pitch (its note-on mean when known).
    target = stats.get('mean_pitch_note', stats['mean_pitch'])
    pitch = core.hz_to_midi_np(features['f0_hz'])
    # The nearest whole octave. (The notebook rounds up below 1.5 octaves, so a voice one
    # semitone below the data went up a whole octave, away from it; we round to nearest.)
    octaves = np.round((target - np.mean(pitch[mask_on])) / 12.0, 6)  # no float-noise flips
    octaves = int(np.floor(octaves + 0.5))
    features['f0_hz'] = (np.asarray(features['f0_hz']) * 2.0**octaves).astype(np.float32)
    adjustment.octave_shift_auto = octaves

    # Note-on loudness onto the training distribution; note-off frames quieter.
    _, loudness_norm = dataset_stats.fit_quantile_transform(
        loudness_db, mask_on, inv_quantile=stats['quantile_transform']
    )
    mask_off = np.logical_not(mask_on)
    loudness_norm[mask_off] -= quiet_db * (1.0 - note_on_value[mask_off][:, np.newaxis])
    features['loudness_db'] = np.reshape(loudness_norm, loudness_db.shape).astype(np.float32)
    adjustment.loudness_mapped = True
    logging.info(
        'Auto-adjust: %d note-on frames, octave shift %+d, loudness mapped onto the training data',
        adjustment.n_note_on_frames,
        octaves,
    )
    return features, adjustment


def shift_features(
    features: dict[str, np.ndarray], semitones: float = 0.0, loudness_shift_db: float = 0.0
) -> dict[str, np.ndarray]:
    """Pitch shift in semitones and loudness shift in dB; f0 clipped to [0, midi_to_hz(110)]."""
    features = dict(features)
    f0_hz = np.asarray(features['f0_hz'], dtype=np.float64) * 2.0 ** (semitones / 12.0)
    features['f0_hz'] = np.clip(f0_hz, 0.0, core.midi_to_hz_np(MAX_MIDI)).astype(np.float32)
    features['loudness_db'] = (np.asarray(features['loudness_db']) + loudness_shift_db).astype(np.float32)
    return features


def resynthesize(
    save_dir: str,
    audio: np.ndarray | None = None,
    input_path: str | None = None,
    pitch_shift: float = 0.0,
    octave_shift: int = 0,
    loudness_shift_db: float = 0.0,
    auto_adjust_features: bool = True,
    crepe_model: str = 'full',
    checkpoint: str | None = None,
    include_reverb: bool = True,
    piece_secs: float = 60.0,
    restored=None,
) -> dict[str, Any]:
    """Plays a monophonic recording through a trained model.

    Args:
      save_dir: the training run's directory.
      audio: mono float audio at the model's sample rate (or give input_path).
      input_path: an audio file (any format libsndfile reads, any rate and channel count).
      pitch_shift: semitones added after auto-adjust.
      octave_shift: octaves added after auto-adjust.
      loudness_shift_db: dB added after auto-adjust.
      auto_adjust_features: the notebook's octave and loudness adjustment to the training data
        (needs the run's dataset_statistics.json, or its training data to compute it).
      crepe_model: CREPE capacity for the input's f0.
      checkpoint: a checkpoint prefix instead of the newest in save_dir.
      include_reverb: apply the model's learned reverb.
      piece_secs: analysis and synthesis piece length; bounds memory on long inputs.
      restored: an inference.RestoredModel already loaded from save_dir (skips loading).

    Returns:
      {'audio': [n_samples] float32, 'sample_rate', 'features' (the input's), 'features_used'
       (after adjustments), 'adjustment', 'checkpoint'}.
    """
    from clarinet_ddsp import inference

    if (audio is None) == (input_path is None):
        raise ValueError('resynthesize: give exactly one of audio or input_path.')
    if restored is None:
        restored = inference.load_model(save_dir, checkpoint=checkpoint)
    sample_rate, hop = restored.sample_rate, restored.hop_size
    if input_path is not None:
        audio = load_audio(input_path, sample_rate)
    if np.max(np.abs(audio)) == 0.0:
        raise ValueError(f'{input_path or "audio"}: the input is silent; give a recording.')
    logging.info('Analysing %.2f s of audio (CREPE %s)...', len(audio) / sample_rate, crepe_model)
    features = compute_features(audio, sample_rate, hop, crepe_model=crepe_model, piece_secs=piece_secs)

    adjustment = Adjustment()
    used = features
    if auto_adjust_features:
        stats = inference.load_or_compute_statistics(save_dir)
        if stats is None:
            logging.warning('Auto-adjust skipped: no dataset statistics for %s.', save_dir)
        else:
            used, adjustment = auto_adjust(features, stats)
    used = shift_features(
        used, semitones=pitch_shift + 12.0 * octave_shift, loudness_shift_db=loudness_shift_db
    )
    adjustment.semitones_total = 12.0 * adjustment.octave_shift_auto + pitch_shift + 12.0 * octave_shift

    synth = inference.ControlsToAudio(restored.model, sample_rate, hop, include_reverb=include_reverb)
    logging.info('Synthesising %d frames...', used['f0_hz'].size)
    piece_frames = max(1, int(round(piece_secs * sample_rate / hop)))
    audio_out = inference.synthesize_pieces(synth, used['f0_hz'], used['loudness_db'], piece_frames)
    return {
        'audio': audio_out,
        'sample_rate': sample_rate,
        'features': features,
        'features_used': used,
        'adjustment': adjustment,
        'checkpoint': restored.checkpoint,
    }


_VOWEL_FORMANTS = {  # (Hz, bandwidth Hz), an adult voice
    'a': ((730, 90), (1090, 110), (2440, 160)),
    'o': ((570, 80), (840, 100), (2410, 160)),
    'i': ((270, 60), (2290, 100), (3010, 150)),
}


def sung_vowel(
    notes_midi=(60, 62, 64, 65, 67, 65, 64, 62),
    note_secs: float = 0.5,
    sample_rate: int = 16000,
    vowel: str = 'a',
    vibrato_hz: float = 5.5,
    vibrato_cents: float = 30.0,
    gap_secs: float = 0.06,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A voice-like test input that is not a clarinet: a glottal pulse train (all harmonics, -6 dB
    per octave) with vibrato, through three vowel formant resonators, notes separated by short
    breaths.

    Returns:
      audio [n_samples] float32 peaking at 0.5, and its true f0 in Hz per sample (0 in gaps).
    """
    from scipy import signal

    if vowel not in _VOWEL_FORMANTS:
        raise ValueError(f'sung_vowel: vowel={vowel!r} is not one of {sorted(_VOWEL_FORMANTS)}.')
    rng = np.random.RandomState(seed)
    n_note = int(note_secs * sample_rate)
    n_gap = int(gap_secs * sample_rate)
    f0_parts, env_parts = [], []
    for note in notes_midi:
        t = np.arange(n_note) / sample_rate
        onset = min(1.0, 0.4 / max(note_secs, 1e-3))  # vibrato fades in
        depth = vibrato_cents * np.clip(t / (onset * note_secs + 1e-9), 0.0, 1.0)
        cents = depth * np.sin(2 * np.pi * vibrato_hz * t + rng.uniform(0, 2 * np.pi))
        f0_parts.append(core.midi_to_hz_np(note) * 2.0 ** (cents / 1200.0))
        ramp = min(n_note // 4, int(0.04 * sample_rate))
        env = np.ones(n_note)
        env[:ramp] = np.linspace(0.0, 1.0, ramp)
        env[-ramp:] = np.linspace(1.0, 0.0, ramp)
        env_parts.append(env)
        f0_parts.append(np.zeros(n_gap))
        env_parts.append(np.zeros(n_gap))
    f0 = np.concatenate(f0_parts)
    env = np.concatenate(env_parts)
    f0_held = f0.copy()
    for i in range(1, f0_held.size):  # keep the oscillator running through gaps
        if f0_held[i] == 0.0:
            f0_held[i] = f0_held[i - 1]
    phase = 2 * np.pi * np.cumsum(f0_held) / sample_rate
    n_harm = int(sample_rate / 2 / np.min(f0_held[f0_held > 0]))
    source = np.zeros_like(phase)
    for k in range(1, n_harm + 1):
        below = (k * f0_held < sample_rate / 2 * 0.95).astype(np.float64)
        source += below * np.sin(k * phase) / k
    audio = source * env + 0.003 * rng.randn(source.size) * (0.2 + env)
    for freq, bw in _VOWEL_FORMANTS[vowel]:
        r = np.exp(-np.pi * bw / sample_rate)
        theta = 2 * np.pi * freq / sample_rate
        a = [1.0, -2 * r * np.cos(theta), r * r]
        audio = signal.lfilter([1.0 - r], a, audio)
    audio = 0.5 * audio / np.max(np.abs(audio))
    return audio.astype(np.float32), f0


def write_wav(path: str, audio: np.ndarray, sample_rate: int) -> float:
    """Writes 16-bit PCM; scales down (and says so) only if the peak exceeds full scale.

    Returns:
      The peak of the written audio.
    """
    import soundfile as sf

    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1.0:
        logging.warning('Output peak %.2f exceeds full scale; scaled to 0.99 to avoid clipping.', peak)
        audio = audio * (0.99 / peak)
        peak = 0.99
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    sf.write(path, audio, sample_rate, subtype='PCM_16')
    return peak


def write_plot(path: str, result: dict[str, Any], f0_out_hz: np.ndarray | None = None) -> None:
    """Spectrograms of input and output and the f0 tracks (input, used, and the output's if given)."""
    from clarinet_ddsp.training import summaries

    sr = result['sample_rate']
    fig = summaries.new_figure((10, 9))
    axes = fig.subplots(3, 1)
    for ax, audio, title in (
        (axes[0], result['features']['audio'], 'input'),
        (axes[1], result['audio'], 'resynthesis'),
    ):
        ax.specgram(audio, Fs=sr, NFFT=1024, noverlap=768, cmap='magma')
        ax.set_ylim(0, min(sr / 2, 5000))
        ax.set_title(title)
        ax.set_ylabel('Hz')
    hop_secs = len(result['features']['audio']) / sr / max(1, result['features']['f0_hz'].size)
    times = np.arange(result['features']['f0_hz'].size) * hop_secs
    axes[2].plot(times, result['features']['f0_hz'], label='input f0 (CREPE)', lw=1)
    axes[2].plot(times, result['features_used']['f0_hz'], label='f0 used', lw=1)
    if f0_out_hz is not None:
        axes[2].plot(
            times[: len(f0_out_hz)], f0_out_hz[: len(times)], label='output f0 (CREPE)', lw=1, ls='--'
        )
    axes[2].set_yscale('log')
    axes[2].set_xlabel('s')
    axes[2].set_ylabel('Hz')
    axes[2].legend(loc='upper right')
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
