"""ControlsToAudio and synthesize_pieces: any length, any block size, pieces joined seamlessly."""

import inference_runs
import numpy as np
import tensorflow as tf

from clarinet_ddsp import inference


def test_block_synthesis_matches_the_models_harmonic_synth(untrained_run, random_controls):
    """ControlsToAudio's harmonic part equals the model's own Harmonic synth at training length."""
    restored = inference.load_model(untrained_run)
    model = restored.model
    n_frames = restored.n_frames_train
    f0, ld = random_controls(n_frames, batch=1, seed=3)
    synth = inference.ControlsToAudio(model, restored.sample_rate, restored.hop_size, block_frames=40)
    ours = synth.synthesize(tf.constant(f0), tf.constant(ld))
    harmonic = model.processor_group.additive
    harmonic.precise_phase = True  # float64 phase, as ControlsToAudio (ddsp's float32 drifts)
    model.preprocessor.compute_loudness = False  # use the given loudness, as ControlsToAudio
    outputs = model(
        {'f0_hz': f0, 'loudness_db': ld, 'audio': np.zeros([1, n_frames * 64], np.float32)}, training=False
    )
    reference = outputs['additive']['signal'].numpy()
    np.testing.assert_allclose(
        ours['amplitudes'].numpy(), outputs['additive']['controls']['amplitudes'].numpy(), rtol=1e-6
    )
    err = np.max(np.abs(ours['harmonic'].numpy() - reference)) / np.max(np.abs(reference))
    assert err < 1e-3


def test_block_size_does_not_change_the_audio(untrained_run, random_controls):
    restored = inference.load_model(untrained_run)
    f0, ld = random_controls(90, batch=1, seed=5)
    outs = [
        inference.ControlsToAudio(restored.model, 16000, 64, block_frames=k)(f0, ld)['audio']
        for k in (7, 90, 1000)
    ]
    for out in outs[1:]:
        np.testing.assert_allclose(out.numpy(), outs[0].numpy(), atol=1e-6)


def test_synthesis_in_pieces_continues_phase_and_reverb(tmp_path):
    run_dir = inference_runs.make_untrained_run(str(tmp_path / 'run'))
    restored = inference.load_model(run_dir)
    synth = inference.ControlsToAudio(restored.model, 16000, 64, block_frames=100)
    synth._layers.noise = None  # noise differs per piece
    n = 600
    f0 = (300.0 * 2 ** (np.sin(np.linspace(0, 6, n)) / 6)).astype(np.float32)
    ld = np.full(n, -25.0, np.float32)
    whole = inference.synthesize_pieces(synth, f0, ld, piece_frames=n)
    pieces = inference.synthesize_pieces(synth, f0, ld, piece_frames=170, warmup_frames=100)
    assert whole.shape == pieces.shape == (n * 64,)
    rel = np.sqrt(np.mean((whole - pieces) ** 2) / np.mean(whole**2))
    assert rel < 1e-4, rel  # a phase jump or a lost reverb tail would be ~1


def test_gate_silence_zeroes_the_frames_where_the_input_is_at_the_loudness_floor():
    # 6 frames of hop 4: frames 0-1 and 5 at the -80 dB floor (silent input), 2-4 playing. The gain is 0
    # and 1 at the frame times (sample i * hop), linear between: 0 up to sample 4, rising over 4..8, 1 up
    # to sample 16, falling over 16..20, 0 after.
    hop = 4
    loudness = np.array([-80.0, -80.0, -30.0, -79.5, -20.0, -80.0])
    audio = np.full(6 * hop, 2.0, np.float32)
    gated = inference.gate_silence(audio, loudness, hop)
    expected = 2.0 * np.array(
        [0, 0, 0, 0, 0, 0.25, 0.5, 0.75] + [1] * 9 + [0.75, 0.5, 0.25] + [0, 0, 0, 0], np.float32
    )
    np.testing.assert_allclose(gated, expected, atol=1e-7)
    assert gated.dtype == np.float32
    # Nothing at the floor: unchanged.
    np.testing.assert_array_equal(inference.gate_silence(audio, loudness + 10.0, hop), audio)


def test_gate_silence_in_blocks_and_in_place_equals_the_whole_signal_gain():
    # Block edges (7 samples) fall inside frames (hop 4) and on them; numpy's interp over all samples at
    # once is the independent reference. In place: the same values in the same array.
    rng = np.random.default_rng(0)
    hop, n_frames = 4, 50
    loudness = np.where(rng.random(n_frames) < 0.4, -80.0, -30.0)
    audio = rng.standard_normal(n_frames * hop).astype(np.float32)
    open_ = (loudness > -80.0 + 1e-3).astype(np.float64)
    expected = (audio * np.interp(np.arange(audio.size), np.arange(n_frames) * hop, open_)).astype(np.float32)
    np.testing.assert_array_equal(inference.gate_silence(audio, loudness, hop, block=7), expected)
    inplace = audio.copy()
    assert inference.gate_silence(inplace, loudness, hop, out=inplace, block=7) is inplace
    np.testing.assert_array_equal(inplace, expected)
