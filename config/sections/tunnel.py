"""Remote upload: Frame.io pulls the file through a tunnel from our Range server.

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator


class TunnelSettings(BaseModel):
    """Remote upload: Frame.io pulls the file through a tunnel from our Range server."""

    upload_strategy: Literal["auto", "multipart", "remote"] = Field(
        "multipart",
        description="multipart (default): our process sends the parts. auto/remote (opt-in): "
        "Frame.io pulls the file through a tunnel to our Range server when the tunnel is "
        "healthy and the file is under the remote-upload cap, else multipart; a failed remote "
        "upload falls back to multipart. With tunnel_mode=quick the file is reachable at a "
        "public URL (signed, expiring): for testing; use a named tunnel in production.",
    )
    remote_upload_max_bytes: int = Field(
        50 * 10**9, gt=0, description="Frame.io's remote-upload size cap (50 GB)."
    )
    remote_upload_timeout_seconds: float = Field(
        3600.0, gt=0, description="How long to wait for Frame.io to finish pulling a file."
    )
    range_server_host: str = Field("127.0.0.1", description="Interface of the Range server.")
    range_server_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="TCP port of the Range server; 0 picks a free one (quick tunnel). A named "
        "tunnel needs the fixed port of its Cloudflare ingress rule (docs/remote-upload.md).",
    )
    range_chunk_bytes: int = Field(
        1 << 20, ge=64 * 1024, description="Read size when serving (measured: 1 MiB >> 64 KiB)."
    )
    share_token_ttl_seconds: int = Field(
        4 * 3600, gt=0, description="Lifetime of a signed file URL."
    )
    share_secret: SecretStr | None = Field(
        None, description="HMAC key for file URLs; random per process when unset."
    )
    tunnel_mode: Literal["quick", "named", "off"] = Field(
        "quick",
        description="Only with upload_strategy auto/remote: cloudflared quick tunnel "
        "(account-less, public trycloudflare.com URL, for testing), named tunnel (token block, "
        "your hostname: the production choice), or none.",
    )
    tunnel_hostname: str = Field("", description="Public hostname of a named tunnel.")
    tunnel_token_block: str = Field(
        "",
        description="Prefect Secret block holding a named tunnel token (empty: "
        "<installation>-tunnel-token, postflow-tunnel-token for the default installation).",
    )
    cloudflared_path: str = Field("cloudflared", description="cloudflared executable.")
    tunnel_start_timeout_seconds: float = Field(
        60.0, gt=0, description="How long to wait for the tunnel to become ready."
    )
    tunnel_canary_timeout_seconds: float = Field(
        15.0,
        gt=0,
        le=600,
        description="Named tunnel: how long the start-up self-check keeps fetching a signed "
        "canary URL through the public hostname while nothing answers; then remote uploads are "
        "off for this process.",
    )

    @field_validator("tunnel_mode")
    @classmethod
    def _named_tunnel_has_a_fixed_port(cls, value: str, info: ValidationInfo) -> str:
        """A token tunnel forwards to the origin of its ingress rule in Cloudflare, not to
        whatever port this process happens to bind: the two must name the same port
        (``range_server_port`` is declared, so validated, before ``tunnel_mode``)."""
        if value == "named" and info.data.get("range_server_port") == 0:
            raise ValueError(
                "tunnel_mode=named forwards to the port of its ingress rule in Cloudflare: set "
                "POSTFLOW_RANGE_SERVER_PORT to it (the rule's service is "
                "http://127.0.0.1:<port>)"
            )
        return value
