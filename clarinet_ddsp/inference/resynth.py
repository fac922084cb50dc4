"""Timbre transfer: any monophonic recording -> f0 and loudness -> the trained instrument.

Loads the recording (data_prep.audio_io), analyses it (analysis), adjusts its pitch and loudness
toward the training data as ddsp's timbre-transfer notebook does (adjust) and synthesises it through
the restored model in pieces (synthesis).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from absl import logging

from clarinet_ddsp.data_prep import audio_io
from clarinet_ddsp.inference import adjust, analysis, restore, synthesis
from clarinet_ddsp.pitch import SILENT_FRAME_DB


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
    gate_silence: bool = True,
    f0_skip_below_db: float | None = SILENT_FRAME_DB,
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
        gate_silence: silence the output where the input is at the loudness floor (digital silence;
            synthesis.gate_silence); False keeps the model's faint output there (e.g. a reverb's tail).
        f0_skip_below_db: the input's CREPE frames quieter than this hold no pitch
            (analysis.compute_features); None analyses every frame, as ddsp.

    Returns:
        {'audio': [n_samples] float32, 'sample_rate', 'features' (the input's), 'features_used'
           (after adjustments), 'adjustment', 'checkpoint'}.
    """
    if (audio is None) == (input_path is None):
        raise ValueError('resynthesize: give exactly one of audio or input_path.')
    if restored is None:
        restored = restore.load_model(save_dir, checkpoint=checkpoint)
    sample_rate, hop = restored.sample_rate, restored.hop_size
    if input_path is not None:
        audio = audio_io.load_audio(input_path, sample_rate)
    if np.max(np.abs(audio)) == 0.0:
        raise ValueError(f'{input_path or "audio"}: the input is silent; give a recording.')
    logging.info('Analysing %.2f s of audio (CREPE %s)...', len(audio) / sample_rate, crepe_model)
    features = analysis.compute_features(
        audio,
        sample_rate,
        hop,
        crepe_model=crepe_model,
        piece_secs=piece_secs,
        f0_skip_below_db=f0_skip_below_db,
    )
    del audio  # features['audio'] is the input from here on: one copy of the recording in memory.

    adjustment = adjust.Adjustment()
    used = features
    if auto_adjust_features:
        stats = restore.load_or_compute_statistics(save_dir)
        if stats is None:
            logging.warning('Auto-adjust skipped: no dataset statistics for %s.', save_dir)
        else:
            used, adjustment = adjust.auto_adjust(features, stats)
    used = adjust.shift_features(
        used, semitones=pitch_shift + 12.0 * octave_shift, loudness_shift_db=loudness_shift_db
    )
    adjustment.semitones_total = 12.0 * adjustment.octave_shift_auto + pitch_shift + 12.0 * octave_shift

    synth = synthesis.ControlsToAudio(restored.model, sample_rate, hop, include_reverb=include_reverb)
    logging.info('Synthesising %d frames...', used['f0_hz'].size)
    piece_frames = max(1, int(round(piece_secs * sample_rate / hop)))
    audio_out = synthesis.synthesize_pieces(synth, used['f0_hz'], used['loudness_db'], piece_frames)
    if gate_silence:
        audio_out = synthesis.gate_silence(audio_out, features['loudness_db'], hop, out=audio_out)
    return {
        'audio': audio_out,
        'sample_rate': sample_rate,
        'features': features,
        'features_used': used,
        'adjustment': adjustment,
        'checkpoint': restored.checkpoint,
    }
