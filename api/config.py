"""Gateway settings (``LEDGER_API_*`` environment variables), read once behind a cached ``get_settings()``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.formats.canonical import MAX_INPUT_DEPTH


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_API_", frozen=True)

    public_url: str = Field(
        "http://127.0.0.1:8000",
        pattern=r"^https?://[^/?#\s]+/?$",
        max_length=200,
        description="The address departments use to reach this gateway (scheme, host, port). Sign-in challenges "
        "and tokens are bound to it, so another gateway's challenge or token is refused here; give "
        "each gateway its own.",
    )
    token_ttl_seconds: int = Field(900, ge=30, description="Lifetime of a session token.")
    challenge_ttl_seconds: int = Field(300, ge=10, description="How long a sign-in challenge may be answered.")
    registry_cache_seconds: float = Field(
        2.0, ge=0, le=5, description="Longest a registry read is reused (also per block)."
    )
    public_burst: int = Field(30, ge=1, description="Token-bucket size per client IP on the public endpoints.")
    public_per_second: float = Field(0.5, gt=0, description="Token-bucket refill per client IP (requests/s).")
    signin_burst: int = Field(
        20,
        ge=1,
        description="Token-bucket size per client IP for sign-in (/auth/challenge, "
        "/auth/token), apart from the public budget.",
    )
    signin_per_second: float = Field(0.5, gt=0, description="Sign-in bucket refill per client IP (requests/s).")
    refused_burst: int = Field(
        20,
        ge=1,
        description="Token-bucket size per client IP for requests refused for "
        "want of a valid token (401/403 before any handler).",
    )
    refused_per_second: float = Field(0.2, gt=0, description="Refused-request bucket refill per client IP.")
    authenticated_burst: int = Field(600, ge=1, description="Token-bucket size per signed-in department.")
    authenticated_per_second: float = Field(100.0, gt=0, description="Signed-in bucket refill per department.")
    rate_limit_max_clients: int = Field(
        100_000, ge=100, description="Most clients each bucket remembers (the least recently seen is forgotten beyond)."
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses/networks of reverse proxies whose "
        "X-Forwarded-For is believed; default none (the peer address "
        "is the client).",
    )
    refusal_log_window_seconds: float = Field(
        60.0,
        ge=0,
        description="Refusals of unauthenticated reads are logged at most once per certificate per "
        "window, with the count of the others.",
    )
    anchor_interval_seconds: float = Field(
        30.0, ge=0, description="Access-log anchoring period; 0 disables the background task."
    )
    head_max_age_seconds: float = Field(
        0.25,
        ge=0,
        le=2,
        description="Longest a chain head read is reused by public verification of certificate "
        "files (reports say which block they are as of); 0 reads it per request.",
    )
    head_refresh_seconds: float = Field(
        0.05, gt=0, le=1, description="Period of the background head read that keeps the reused head fresh."
    )
    max_body_bytes: int = Field(4 * 2**20, ge=1024, description="Largest request body accepted (413 beyond).")
    max_body_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Seconds a request's body may take to arrive after its headers (408, connection closed, beyond).",
    )
    max_anonymous_body_bytes: int = Field(
        2**20,
        ge=1024,
        description="Largest body of a request without a token "
        "or to /public/* and /auth/* (413 beyond; "
        "a certificate file is at most 1 MiB).",
    )
    heavy_verify_threads: int = Field(
        1,
        ge=1,
        description="Public verifications of bigger-than-certificate "
        "documents running at once (each in a worker thread); "
        "more wait their turn.",
    )
    whole_log_threads: int = Field(
        1,
        ge=1,
        description="Requests that walk a whole log (the auditors' report, "
        "log checks) running at once, each in a worker thread.",
    )
    whole_log_queue: int = Field(
        4,
        ge=0,
        description="Such requests waiting for their turn beyond those running; more are refused (429 with Retry-After).",
    )
    max_issue_records: int = Field(1000, ge=1, description="Most records one POST /certificates may carry.")
    window_scan_rows: int = Field(
        20_000,
        ge=1,
        description="Most log entries one page of a time window (`since`/`until` of GET /access-log, "
        "GET /audit/logs/{log}) walks; a shorter page then names the next one.",
    )
    max_header_bytes: int = Field(
        16 * 1024, ge=1024, description="Largest request head (names and values of all headers) accepted (431 beyond)."
    )
    max_token_bytes: int = Field(1024, ge=256, description="Longest Authorization header accepted (401 beyond).")
    max_json_depth: int = Field(
        32,
        ge=4,
        le=MAX_INPUT_DEPTH,  # what the ledger writes from a body nests it further: every reader must read that back
        description="Deepest nesting of arrays and objects in a JSON body (422 beyond).",
    )
    max_json_values: int = Field(
        200_000, ge=1000, description="Most values (members, items, scalars) in a JSON body (422 beyond)."
    )
    max_anonymous_json_values: int = Field(
        8192,
        ge=1000,
        description="Most values in the JSON body of a request "
        "without a token or to /public/*, /auth/* "
        "(a certificate has tens; 422 beyond).",
    )
    max_json_string_chars: int = Field(
        128 * 1024,
        ge=1024,
        description="Longest string or member name in a JSON body (422 beyond; twice a record's limit).",
    )


@lru_cache
def get_settings() -> ApiSettings:
    return ApiSettings()  # type: ignore[call-arg]  # values come from the environment
