"""Audio -> the model's controls: CREPE f0, its confidence and A-weighted loudness, frame-exact for
the model, analysed in pieces so memory does not grow with the input."""

from __future__ import annotations

import math

import numpy as np
from absl import logging

from clarinet_ddsp.pitch import SILENT_FRAME_DB


def compute_features(
    audio: np.ndarray,
    sample_rate: int,
    hop_size: int,
    crepe_model: str = 'full',
    viterbi: bool = True,
    piece_secs: float = 60.0,
    context_secs: float = 2.0,
    f0_skip_below_db: float | None = SILENT_FRAME_DB,
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
        f0_skip_below_db: CREPE frames quieter than this (dB re full scale) hold no pitch: 0 Hz,
            confidence 0, and the Viterbi path holds a note's pitch up to its end instead of sliding
            away before it (pitch.SILENT_FRAME_DB). None analyses every frame, as ddsp.

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
            segment,
            frame_rate,
            viterbi=viterbi,
            padding='same',
            model_capacity=crepe_model,
            skip_below_db=f0_skip_below_db,
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
