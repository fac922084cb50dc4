"""f0 and confidence per frame from 16 kHz audio with CREPE, framed as ddsp.spectral_ops.compute_f0."""

from __future__ import annotations

import numpy as np

from clarinet_ddsp.pitch import decoding
from clarinet_ddsp.pitch import model as model_lib
from clarinet_ddsp.spectral_ops import CREPE_FRAME_SIZE, CREPE_SAMPLE_RATE, PADDING_MODES, get_framed_lengths

# Frames quieter than this (dB re full scale over CREPE's 1024-sample window) hold no pitch: digital
# silence, or a noise floor far below any note. compute_f0(skip_below_db=SILENT_FRAME_DB) gives them
# 0 Hz and confidence 0, and the Viterbi decoding treats them as carrying no evidence. With crepe's
# decoding (every frame informative) the path must reach the pitch CREPE guesses for silence (often
# its top bins, ~2 kHz) at most 11 bins (220 cents) a frame, so it leaves a note up to 80 ms before
# the note ends: a model trained on that f0 hears a sliding pitch under a note still at full level.
SILENT_FRAME_DB = -70.0


def pad_for_framing(audio: np.ndarray, frame_size: int, hop_size: int, padding: str = 'center') -> np.ndarray:
    """Zero-pads a 1-D signal as ddsp.spectral_ops.pad.

    'same' pads at the end; 'center' pads frame_size // 2 on each side.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if padding not in PADDING_MODES:
        raise ValueError(f'padding={padding!r} is not one of {PADDING_MODES}.')
    if padding == 'valid':
        return audio
    if hop_size > frame_size:
        raise ValueError(
            f'hop_size={hop_size} is larger than frame_size={frame_size}; frames would skip '
            'samples. Use a higher frame_rate.'
        )
    if padding == 'center':
        before = after = frame_size // 2
    else:
        _, padded_length = get_framed_lengths(audio.shape[0], frame_size, hop_size, padding)
        before, after = 0, padded_length - audio.shape[0]
    return np.pad(audio, (before, after))


def frame_rms_db(audio: np.ndarray, hop_size: int, n_frames: int) -> np.ndarray:
    """Power of each 1024-sample frame in dB re full scale (-inf for digital silence).

    audio [n_samples] -> float64 [n_frames]; [n_signals, n_samples] -> [n_signals, n_frames].
    """
    signals = np.asarray(audio).reshape(-1, np.shape(audio)[-1])
    power = np.empty([signals.shape[0], n_frames])
    for start in range(0, n_frames, 1024):
        idx = np.arange(start, min(start + 1024, n_frames))
        frames = signals[:, idx[:, None] * hop_size + np.arange(CREPE_FRAME_SIZE)[None, :]].astype(np.float64)
        power[:, idx] = np.mean(frames**2, axis=2)
    with np.errstate(divide='ignore'):
        db = 10.0 * np.log10(power)
    return db.reshape(np.shape(audio)[:-1] + (n_frames,))


def compute_f0(
    audio: np.ndarray,
    frame_rate: float,
    viterbi: bool = True,
    padding: str = 'center',
    model_capacity: str = 'full',
    *,
    model: model_lib.CrepeModel | None = None,
    skip_below_db: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fundamental frequency with CREPE, as ddsp 3.7.0's spectral_ops.compute_f0 (+ a capacity option).

    The signal is padded as ddsp's pad(audio, 1024, 16000 // frame_rate, padding), then framed as
    crepe.predict(center=False, step_size=1000 / frame_rate): 1024-sample frames every hop samples,
    each normalised, salience from the network, f0 from Viterbi or local-average decoding,
    confidence = the frame's maximum salience.

    A batch of equally long signals ([n_signals, n_samples]) is analysed in one go: their frames
    share the network's batches and one Viterbi loop decodes them all. Each signal gets the same
    f0 and confidence as when analysed alone (to float32 rounding).

    Args:
        audio: float [n_samples] mono audio at 16 kHz, or [n_signals, n_samples].
        frame_rate: f0 frames per second (250 in ddsp's recipes; hop = 16000 // frame_rate).
        viterbi: Viterbi decoding over the salience (crepe's HMM); local-average decoding otherwise.
        padding: 'center' (n_samples / hop + 1 frames), 'same' (ceil(n_samples / hop)) or 'valid'.
        model_capacity: 'full' or 'tiny'; ignored when `model` is given.
        model: a loaded CrepeModel to reuse; by default the process-wide one for model_capacity.
        skip_below_db: off by default (as crepe). Frames whose power is below this floor (dB re full
            scale; e.g. SILENT_FRAME_DB) are not run through the network: their f0 is 0 Hz and their
            confidence 0, and the Viterbi decoding treats them as carrying no evidence, so its path
            holds a note's pitch up to the silence instead of sliding away before it. Also faster.

    Returns:
        f0_hz: float32 [n_frames] (or [n_signals, n_frames]). f0_confidence: float32, the same shape,
        in [0, 1].

    Raises:
        ValueError: audio neither 1-D nor 2-D, or not finite, a bad frame_rate or padding, or audio too
            short for 'valid' framing.
    """
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2):
        raise ValueError(
            f'compute_f0: audio has shape {audio.shape}; pass one mono 16 kHz signal as a 1-D '
            'array, or equally long signals as [n_signals, n_samples].'
        )
    if not np.all(np.isfinite(audio)):
        raise ValueError('compute_f0: audio holds NaN or Inf samples; clean or drop the signal first.')
    if not frame_rate or frame_rate <= 0 or CREPE_SAMPLE_RATE // frame_rate < 1:
        raise ValueError(
            f'compute_f0: frame_rate={frame_rate!r} must be positive and at most '
            f'{CREPE_SAMPLE_RATE} (one frame per sample).'
        )
    if padding not in PADDING_MODES:
        raise ValueError(f'compute_f0: padding={padding!r} is not one of {PADDING_MODES}.')

    batch_shape = audio.shape[:-1]
    pad_hop = int(CREPE_SAMPLE_RATE // frame_rate)  # ddsp's hop for padding.
    signals = np.stack(
        [pad_for_framing(a, CREPE_FRAME_SIZE, pad_hop, padding) for a in audio.reshape(-1, audio.shape[-1])]
    )
    # crepe.get_activation's own framing: step_size = 1000 / frame_rate milliseconds.
    step_size_ms = 1000 / frame_rate
    hop = int(CREPE_SAMPLE_RATE * step_size_ms / 1000)
    if hop < 1:
        raise ValueError(
            f'compute_f0: frame_rate={frame_rate!r} gives a CREPE hop of {hop} samples; use a '
            f'frame_rate below {CREPE_SAMPLE_RATE}.'
        )
    if signals.shape[-1] < CREPE_FRAME_SIZE:
        if padding == 'valid':
            raise ValueError(
                f'compute_f0: {signals.shape[-1]} samples is shorter than one CREPE frame '
                f'({CREPE_FRAME_SIZE}) with padding="valid"; use padding="center" or "same".'
            )
        empty = np.zeros(batch_shape + (0,), np.float32)  # only empty audio, 'same'
        return empty, empty.copy()
    n_frames, _ = get_framed_lengths(signals.shape[-1], CREPE_FRAME_SIZE, hop, 'valid')

    model = model or model_lib.get_model(model_capacity)
    skip = None
    if skip_below_db is not None:
        skip = frame_rms_db(signals, hop, n_frames) < float(skip_below_db)
    salience = model.salience_of_signal(signals, hop, n_frames, skip=skip)  # [n_signals, n_frames, 360]

    confidence = salience.max(axis=2) if n_frames else np.zeros(salience.shape[:2], np.float32)
    if viterbi:
        cents = decoding.to_viterbi_cents(salience, uninformative=skip)
    elif n_frames:
        cents = decoding.to_local_average_cents(salience.reshape(-1, salience.shape[-1])).reshape(
            confidence.shape
        )
    else:
        cents = np.zeros(confidence.shape)
    f0_hz = decoding.cents_to_hz(cents)
    if skip is not None:
        f0_hz[skip] = 0.0
    f0_hz = f0_hz.astype(np.float32).reshape(batch_shape + (n_frames,))
    return f0_hz, np.nan_to_num(confidence.astype(np.float32)).reshape(f0_hz.shape)
