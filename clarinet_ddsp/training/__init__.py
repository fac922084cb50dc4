"""Training: data, preprocessing, networks, models, trainer and loops (mirrors ddsp.training)."""

from clarinet_ddsp.training import (
    checkpointing,
    convnets,
    data,
    decoders,
    distribution,
    encoders,
    eval_util,
    evaluators,
    gin_config,
    inference,
    metrics,
    models,
    nn,
    note_pooling,
    preprocessing,
    quantization,
    summaries,
    train_util,
    trainers,
)
