"""The mlx environment protocol over gRPC: ``serve`` an environment, or drive one remotely.

The messages are defined in ``mlx_core/proto/mlx_env.proto``; the generated Python modules
next to it are committed, so installing mlx-core needs no code generation.
"""

from mlx_core import grpc_defaults
from mlx_core.env.remote.client import RemoteEnvironment
from mlx_core.env.remote.server import serve, start_server

grpc_defaults.hand_back()  # grpc has read mlx's settings: processes started from here need not inherit them

__all__ = ["RemoteEnvironment", "serve", "start_server"]
