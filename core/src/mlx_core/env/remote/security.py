"""Who may talk to an environment server: a shared token, TLS credentials and message size limits."""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any

import grpc

from mlx_core.errors import EnvError

TOKEN_VARIABLE = "MLX_ENV_TOKEN"
"""Environment variable read for the token when none is given (keeps secrets out of configs)."""


def resolve_token(token: str | None) -> str | None:
    """The given token, else ``$MLX_ENV_TOKEN``, else None (no token)."""
    return token or os.environ.get(TOKEN_VARIABLE) or None


def channel_options(max_message_mb: int) -> list[tuple[str, Any]]:
    """gRPC options shared by both sides: message size limits in both directions."""
    limit = int(max_message_mb) * 1024 * 1024
    return [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]


def read_pem(path: str | os.PathLike[str], what: str) -> bytes:
    """A PEM file's bytes, or an EnvError naming the file and the setting it came from."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise EnvError(f"Cannot read the {what} {path}: {error.strerror or error}.") from None


def server_credentials(tls_cert: str | None, tls_key: str | None) -> grpc.ServerCredentials | None:
    """TLS credentials for a server, or None for plain text; both paths or neither."""
    if bool(tls_cert) != bool(tls_key):
        raise EnvError("TLS needs both a certificate and its private key (--tls-cert and --tls-key); one is missing.")
    if not tls_cert or not tls_key:
        return None
    return grpc.ssl_server_credentials([(read_pem(tls_key, "TLS key"), read_pem(tls_cert, "TLS certificate"))])


def channel_credentials(tls_ca: str | None) -> grpc.ChannelCredentials | None:
    """TLS credentials that trust the certificate(s) in ``tls_ca``; None for plain text."""
    if not tls_ca:
        return None
    return grpc.ssl_channel_credentials(root_certificates=read_pem(tls_ca, "TLS certificate (env_settings.tls_ca)"))


class TokenCheck(grpc.ServerInterceptor):
    """Refuses every call whose ``authorization`` metadata is not ``Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

        def refuse(request: Any, context: grpc.ServicerContext) -> None:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "this environment server requires a token: set env_settings.token or $MLX_ENV_TOKEN to the "
                "server's token",
            )

        self._refuse = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        """Pass the call on when its token matches (constant-time comparison), else refuse it."""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                if hmac.compare_digest(given, self._expected):
                    return continuation(handler_call_details)
        return self._refuse
