"""Reference outputs of inference, resynthesis and export, to show a refactor leaves them unchanged.

golden_outputs.npz was written by the code before inference moved onto the Processors' streaming
methods (main at 4a51ba9, with its own block synthesis and a scipy reverb in resynth); the tests
compare today's outputs with it. The model is the shrunk solo-instrument model of inference_runs with
weights drawn from a seeded numpy generator, so the file needs no checkpoint. To rewrite it after an
intended change of the audio (say why in the commit):

  .venv/bin/python -m tests.inference.golden   # from the repository root
"""

from __future__ import annotations

import os

import numpy as np

GOLDEN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'golden_outputs.npz')
HOP = 64
BLOCK_FRAMES = 32  # 100 frames -> 4 blocks, the last one partial
PIECE_BLOCK_FRAMES = 48
PIECE_FRAMES = 120  # 250 frames -> 3 pieces
WARMUP_FRAMES = 50


def set_weights(model) -> None:
    """Seeded weights for every trainable variable (in the model's own order), noise made audible."""
    rng = np.random.default_rng(20261111)
    for v in model.trainable_variables:
        shape = tuple(v.shape)
        if len(shape) >= 2:
            value = rng.normal(0.0, 1.0 / np.sqrt(shape[0]), shape)
        elif v.name == 'ir':
            value = 0.05 * rng.normal(size=shape) * np.exp(-np.arange(shape[0]) / 100.0)
        else:
            value = 0.1 * rng.normal(size=shape) + (1.0 if v.name == 'gamma' else 0.0)
            if shape == (47,):  # the decoder's output bias: amps 1, harmonics 30, noise 16
                value[-16:] += 4.0
        v.assign(value.astype(np.float32))


def controls(batch: int, n_frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """f0_hz (a vibrato-like glide) and loudness_db (a swell with jitter), [batch, n_frames]."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, n_frames)
    f0 = 180.0 * 2.0 ** (rng.uniform(0, 1, (batch, 1)) + 0.3 * np.sin(2 * np.pi * 2 * t))
    ld = -60.0 + 45.0 * np.sin(np.pi * t) ** 0.5 + rng.normal(0, 1, (batch, n_frames))
    return f0.astype(np.float32), ld.astype(np.float32)


def restored_model(run_dir: str):
    """The shrunk model saved to run_dir, restored through inference.load_model, seeded weights."""
    import inference_runs

    from clarinet_ddsp import inference

    inference_runs.make_untrained_run(run_dir)
    restored = inference.load_model(run_dir)
    set_weights(restored.model)
    return restored


def outputs(restored) -> dict[str, np.ndarray]:
    """ControlsToAudio (batched and 1-D) and synthesize_pieces (with and without reverb)."""
    from clarinet_ddsp import inference

    f0, ld = controls(2, 100, 1)
    synth = inference.ControlsToAudio(restored.model, restored.sample_rate, HOP, block_frames=BLOCK_FRAMES)
    out = synth(f0, ld)
    pieces_f0, pieces_ld = controls(1, 250, 2)
    result = {
        'f0': f0,
        'ld': ld,
        'audio': out['audio'].numpy(),
        'harmonic': out['harmonic'].numpy()[:1],
        'noise': out['noise'].numpy()[:1],
        'audio_1d': synth(f0[0], ld[0])['audio'].numpy(),
        'pieces_f0': pieces_f0[0],
        'pieces_ld': pieces_ld[0],
        'impulse_response': synth.reverb.impulse_response().numpy()[0],
    }
    for key, include_reverb in (('pieces', True), ('pieces_dry', False)):
        pieces_synth = inference.ControlsToAudio(
            restored.model, 16000, HOP, block_frames=PIECE_BLOCK_FRAMES, include_reverb=include_reverb
        )
        result[key] = inference.synthesize_pieces(
            pieces_synth, pieces_f0[0], pieces_ld[0], PIECE_FRAMES, warmup_frames=WARMUP_FRAMES
        )
    return result


def main() -> None:
    import sys
    import tempfile

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as run_dir:
        np.savez_compressed(GOLDEN_PATH, **outputs(restored_model(run_dir)))
    print(f'wrote {GOLDEN_PATH}')


if __name__ == '__main__':
    main()
