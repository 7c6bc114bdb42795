"""Who may talk to an environment server: a shared token, TLS credentials and message size limits."""

from __future__ import annotations

import hmac
import os
import ssl
from collections.abc import Sequence
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
    key, cert = read_pem(tls_key, "TLS key"), read_pem(tls_cert, "TLS certificate")
    try:  # gRPC would only say it failed to bind the port: check the pair here to say what is wrong
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls_cert, tls_key)
    except (ssl.SSLError, ValueError) as error:
        raise EnvError(
            f"The TLS certificate {tls_cert} and key {tls_key} cannot be used together ({error}): they may be "
            "swapped, not PEM files, or not a matching pair."
        ) from None
    return grpc.ssl_server_credentials([(key, cert)])


def channel_credentials(tls_ca: str | None) -> grpc.ChannelCredentials | None:
    """TLS credentials that trust the certificate(s) in ``tls_ca``; None for plain text."""
    if not tls_ca:
        return None
    return grpc.ssl_channel_credentials(root_certificates=read_pem(tls_ca, "TLS certificate (env_settings.tls_ca)"))


class TokenCheck:
    """Refuses every call whose ``authorization`` metadata is not ``Bearer <token>``: called with
    a call's metadata, it returns None to let the call through or the text of the refusal."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()
        hint = "set env_settings.token or $MLX_ENV_TOKEN to the server's token"
        self._missing = f"this environment server requires a token: {hint}"
        self._wrong = f"the token does not match this environment server's: {hint}"

    def __call__(self, metadata: Sequence[tuple[str, Any]]) -> str | None:
        for key, value in metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                # a constant-time comparison: the time taken says nothing about the token
                return None if hmac.compare_digest(given, self._expected) else self._wrong
        return self._missing
