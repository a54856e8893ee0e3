"""Frame.io v4: the API, the account and project, the OAuth app and the credentials block.

One slice of :class:`config.settings.PostflowSettings` (env prefix ``POSTFLOW_``): a module that
needs only this concern takes this type, so it cannot read another slice's fields.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class FrameioSettings(BaseModel):
    """Frame.io v4: the API, the account and project, the OAuth app and the credentials block."""

    frameio_api_base_url: str = Field(
        "https://api.frame.io", description="Frame.io API base URL, without /v4."
    )
    frameio_ims_base_url: str = Field(
        "https://ims-na1.adobelogin.com", description="Adobe IMS base URL for tokens."
    )
    frameio_account_id: str = Field("", description="Frame.io v4 account id (UUID).")
    frameio_project_id: str = Field("", description="Frame.io v4 project id (UUID).")
    frameio_credentials_block: str = Field(
        "",
        description="Name of the FrameioCredentials Prefect block (empty: "
        "<installation>-frameio, postflow-frameio for the default installation).",
    )
    frameio_client_id: str = Field(
        "", description="IMS client id, used when no credentials block is saved."
    )
    frameio_client_secret: SecretStr = Field(
        SecretStr(""), description="IMS client secret, used when no credentials block is saved."
    )
    frameio_redirect_uri: str = Field(
        "https://localhost:8976/callback",
        description="OAuth Web App redirect URI, as registered in the Adobe Developer Console "
        "(Adobe requires HTTPS even for localhost). An https:// URI: `postflow login` asks you "
        "to paste the URL the browser lands on; http://127.0.0.1:PORT/...: it receives the "
        "code itself (accepted by the sandbox's IMS, not by Adobe's).",
    )
    frameio_timeout_seconds: float = Field(60.0, gt=0, description="Per-request timeout.")

    def frameio_ids_missing(self) -> list[str]:
        """Return the names of the Frame.io id settings that are still empty."""
        names = ("frameio_account_id", "frameio_project_id")
        return [f"POSTFLOW_{n.upper()}" for n in names if not getattr(self, n)]
