"""mlx core: the plugin contract, configuration, environments and training loop."""

from importlib.metadata import PackageNotFoundError, version

from mlx_core.grpc_defaults import choose_defaults

choose_defaults()  # before anything imports grpc: it reads its settings once, at start

try:
    __version__ = version("mlx-core")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
