"""CREPE embedding loss on our CREPE network: known pitch, frames, scales, frozen weights."""

import numpy as np
import pytest

from clarinet_ddsp import losses


def _tone(hz, n=4096, sr=16000):
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(n) / sr)).astype(np.float32)[np.newaxis]


@pytest.fixture(scope='module')
def crepe_classifier():
    return losses.PretrainedCREPE(model_capacity='tiny', activation_layer='classifier')


def test_crepe_classifier_embedding_peaks_at_the_tones_pitch_bin(crepe_classifier):
    # CREPE's bins: 20 cents apart from 1997.38 cents above 10 Hz (Kim et al. 2018); 440 Hz is bin 227.7.
    embedding = crepe_classifier(_tone(440.0)).numpy()
    assert embedding.shape == (1, 5, 360)  # 4096 samples, hop 1024, half a frame of padding each side
    bins = np.argmax(embedding[0, 1:-1], axis=-1)  # the frames inside the tone
    np.testing.assert_allclose(bins, (1200 * np.log2(440.0 / 10.0) - 1997.3794) / 20, atol=1.0)


def test_crepe_conv_embedding_flattens_time_and_channels(crepe_classifier):
    conv = losses.PretrainedCREPE(activation_layer='conv5-maxpool')
    # tiny: 32 filters in conv5; 1024 / 4 (stride) / 2**5 (pools) = 8 time steps.
    assert conv(_tone(300.0, n=2048)).shape == (1, 3, 8 * 32)
    assert not conv.trainable_weights and not crepe_classifier.trainable_weights


def test_crepe_embedding_loss_is_zero_for_the_same_audio_and_grows_with_detuning():
    loss = losses.PretrainedCREPEEmbeddingLoss()
    assert float(loss(_tone(440.0), _tone(440.0))) == 0.0
    near, far = float(loss(_tone(440.0), _tone(450.0))), float(loss(_tone(440.0), _tone(600.0)))
    assert 0.0 < near < far
    # ddsp's weight: 20 * the classifier's scale (130) * weight.
    assert loss.weight == pytest.approx(20.0 * 130.0)


def test_crepe_embedding_loss_names_the_layers_it_knows():
    with pytest.raises(
        ValueError, match=r"activation_layer='conv7-BN' has no loss scale; use one of \['conv1-BN'"
    ):
        losses.PretrainedCREPEEmbeddingLoss(activation_layer='conv7-BN')
    with pytest.raises(ValueError, match=r"activation_layer='conv1 ' is not a layer of CREPE"):
        losses.PretrainedCREPE(activation_layer='conv1 ')


def test_embedding_loss_without_a_model_names_the_fix():
    with pytest.raises(ValueError, match=r'pretrained_model is None; pass a network'):
        losses.EmbeddingLoss()(_tone(440.0), _tone(440.0))
    assert float(losses.EmbeddingLoss(weight=0.0)(_tone(440.0), _tone(220.0))) == 0.0
