"""Losses (ddsp.losses' public names): spectral, perceptual (CREPE embeddings), consistency, TWM."""

from clarinet_ddsp.losses.base import LOSS_TYPES, Loss, LossGroup, TensorDict, mean_difference
from clarinet_ddsp.losses.consistency import (
    FilteredNoiseConsistencyLoss,
    HarmonicConsistencyLoss,
    KDEConsistencyLoss,
    ParamLoss,
    WassersteinConsistencyLoss,
    amp_loss,
    freq_loss,
    wasserstein_distance,
)
from clarinet_ddsp.losses.embedding import EmbeddingLoss, PretrainedCREPE, PretrainedCREPEEmbeddingLoss
from clarinet_ddsp.losses.spectral import SpectralLoss
from clarinet_ddsp.losses.twm import TWMLoss

__all__ = [
    'LOSS_TYPES',
    'EmbeddingLoss',
    'FilteredNoiseConsistencyLoss',
    'HarmonicConsistencyLoss',
    'KDEConsistencyLoss',
    'Loss',
    'LossGroup',
    'ParamLoss',
    'PretrainedCREPE',
    'PretrainedCREPEEmbeddingLoss',
    'SpectralLoss',
    'TWMLoss',
    'TensorDict',
    'WassersteinConsistencyLoss',
    'amp_loss',
    'freq_loss',
    'mean_difference',
    'wasserstein_distance',
]
