"""clarinet_ddsp: magenta/ddsp's differentiable DSP and training workflow on TF 2 / Keras 3.

`import clarinet_ddsp as ddsp` gives ddsp's signal modules (core, spectral_ops, processors, synths,
effects, losses); training lives in clarinet_ddsp.training and is imported on demand.
"""

import importlib.metadata

from clarinet_ddsp import core, dags, effects, losses, processors, spectral_ops, synths

try:  # The version is written once, in pyproject.toml; the installed metadata carries it.
    __version__ = importlib.metadata.version('clarinet_ddsp')
except importlib.metadata.PackageNotFoundError:  # A source tree on sys.path, not installed.
    __version__ = '0+unknown'
