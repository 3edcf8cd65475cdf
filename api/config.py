"""Gateway settings (``LEDGER_API_*`` environment variables), read once behind a cached ``get_settings()``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_API_", frozen=True)

    public_url: str = Field(
        "http://127.0.0.1:8000", pattern=r"^https?://[^/?#\s]+/?$", max_length=200,
        description="The address departments use to reach this gateway (scheme, host, port). Sign-in challenges "
                    "and tokens are bound to it, so another gateway's challenge or token is refused here; give "
                    "each gateway its own.")
    token_ttl_seconds: int = Field(900, ge=30, description="Lifetime of a session token.")
    challenge_ttl_seconds: int = Field(300, ge=10, description="How long a sign-in challenge may be answered.")
    registry_cache_seconds: float = Field(2.0, ge=0, le=5,
                                          description="Longest a registry read is reused (also per block).")
    public_burst: int = Field(30, ge=1, description="Token-bucket size per client IP on the public endpoints.")
    public_per_second: float = Field(0.5, gt=0, description="Token-bucket refill per client IP (requests/s).")
    anchor_interval_seconds: float = Field(30.0, ge=0,
                                           description="Access-log anchoring period; 0 disables the background task.")
    head_max_age_seconds: float = Field(
        0.25, ge=0, le=2, description="Longest a chain head read is reused by public verification of certificate "
                                      "files (reports say which block they are as of); 0 reads it per request.")
    head_refresh_seconds: float = Field(0.05, gt=0, le=1, description="Period of the background head read that "
                                                                      "keeps the reused head fresh.")
    max_body_bytes: int = Field(4 * 2**20, ge=1024, description="Largest request body accepted (413 beyond).")
    max_issue_records: int = Field(1000, ge=1, description="Most records one POST /certificates may carry.")


@lru_cache
def get_settings() -> ApiSettings:
    return ApiSettings()  # type: ignore[call-arg]  # values come from the environment
