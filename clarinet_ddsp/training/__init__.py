"""Training: data, preprocessing, networks, models, trainer and loops (mirrors ddsp.training)."""

from clarinet_ddsp.training import (
    checkpointing,
    data,
    decoders,
    distribution,
    encoders,
    eval_util,
    evaluators,
    gin_config,
    metrics,
    models,
    nn,
    preprocessing,
    summaries,
    train_util,
    trainers,
)
