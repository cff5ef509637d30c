"""Settings from LLMPORTAL_* environment variables and an optional TOML file (env wins)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from llmportal.gateway.providers.openai_presets import PRESETS

DEFAULT_MODEL_ID = "SmolLM2-135M-Instruct"
Mode = Literal["chat", "embeddings", "images"]
# Which provider types can serve each mode (llama.cpp computes embeddings of its own GGUF).
MODE_PROVIDERS: dict[str, tuple[str, ...]] = {
    "chat": ("openai", "azure", "anthropic", "gemini", "bedrock", "llamacpp"),
    "embeddings": ("openai", "azure", "llamacpp"),
    "images": ("openai", "azure"),
}


class ConfigError(Exception):
    """A bad setting; the message is one line that names it."""


class ProviderConfig(BaseModel):
    id: str
    type: Literal["openai", "azure", "anthropic", "gemini", "bedrock", "llamacpp"]
    base_url: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    timeout_s: float = Field(default=300.0, gt=0)
    max_retries: int = Field(default=0, ge=0, le=10)
    # Consecutive failed calls that open the provider's circuit breaker (0: never), and how
    # long it stays open before one probe request is let through.
    breaker_threshold: int = Field(default=5, ge=0)
    breaker_cooldown_s: float = Field(default=30.0, gt=0)
    # azure: the API version sent with every call, and how the key is sent ("api-key" header,
    # or "bearer" for a Microsoft Entra ID token); gemini: the version in the path (v1beta)
    api_version: str | None = None
    azure_auth: Literal["api-key", "bearer"] = "api-key"
    # bedrock: the region, and static credentials (each also from an environment variable);
    # none of them set: botocore's default credential chain (env, ~/.aws, instance role)
    aws_region: str | None = None
    aws_access_key_id: str | None = None
    aws_access_key_id_env: str | None = None
    aws_secret_access_key: str | None = None
    aws_secret_access_key_env: str | None = None
    aws_session_token: str | None = None
    aws_session_token_env: str | None = None
    # openai: a known upstream (openai_presets.PRESETS) whose defaults and quirks apply
    preset: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)  # openai, azure: sent with every request
    model_path: str | None = None
    n_ctx: int = Field(default=2048, ge=256)
    n_threads: int | None = None

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str | None) -> str | None:
        if v is not None and v not in PRESETS:
            raise ValueError(f"unknown preset '{v}' (one of: {', '.join(PRESETS)})")
        return v

    @model_validator(mode="after")
    def _preset_defaults_and_base_url(self) -> ProviderConfig:
        if self.preset is not None:
            if self.type != "openai":
                raise ValueError(f"provider '{self.id}': preset needs type openai")
            preset = PRESETS[self.preset]
            self.base_url = self.base_url or preset.base_url
            if not (self.api_key or self.api_key_env):
                self.api_key_env = preset.key_env
        if self.type in ("openai", "azure", "anthropic") and not self.base_url:
            raise ValueError(f"provider '{self.id}' of type {self.type} needs base_url")
        if self.type == "bedrock" and not self.aws_region:
            raise ValueError(f"provider '{self.id}' of type bedrock needs aws_region")
        return self

    def resolved_api_key(self) -> str | None:
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


Routing = Literal["weighted", "least-in-flight", "lowest-latency"]


class DeploymentConfig(BaseModel):
    """One place a model is served: a provider, the upstream's name for the model there, its
    share of the traffic and its own limits (per minute, across every instance with Redis)."""

    id: str = ""  # unique within the model; default "<provider>/<upstream model>"
    provider: str
    upstream_model: str | None = None
    weight: float = Field(default=1.0, gt=0)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


class ModelConfig(BaseModel):
    id: str
    # One deployment: provider (+ upstream_model). Several: `deployments`, and `provider` names
    # the first one's unless set.
    provider: str = ""
    upstream_model: str | None = None
    deployments: list[DeploymentConfig] = Field(default_factory=list)
    routing: Routing = "weighted"
    # A deployment that fails (5xx, timeout, 429) is skipped for this long by every instance;
    # only where the model has another deployment to send its requests to.
    cooldown_s: float = Field(default=30.0, ge=0)
    owned_by: str = "llmportal"
    input_cost_per_mtok: float = Field(default=0.0, ge=0)
    output_cost_per_mtok: float = Field(default=0.0, ge=0)
    image_cost: float = Field(default=0.0, ge=0)  # USD per generated image
    # What the model is for: chat (and Responses) completions, embeddings, image generation.
    modes: list[Mode] = Field(default_factory=lambda: list[Mode](["chat"]), min_length=1)
    vision: bool = False
    tokenizer: str | None = None  # a GGUF whose vocabulary counts this model's tokens
    context_window: int | None = None
    fallbacks: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _deployments(self) -> ModelConfig:
        if not self.deployments:
            if not self.provider:
                raise ValueError(f"model '{self.id}' needs a provider or deployments")
            self.deployments = [
                DeploymentConfig(provider=self.provider, upstream_model=self.upstream_model)
            ]
        elif not self.provider:
            self.provider = self.deployments[0].provider
        seen: set[str] = set()
        for d in self.deployments:
            base = d.id or f"{d.provider}/{d.upstream_model or self.id}"
            d.id = base
            n = 1
            while d.id in seen:
                n += 1
                d.id = f"{base}#{n}"
            seen.add(d.id)
        return self

    @property
    def wire_name(self) -> str:
        return self.upstream_model or self.id


class PlanConfig(BaseModel):
    tier: str
    name: str
    monthly_price: int = Field(default=0, ge=0)
    yearly_price: int | None = Field(default=None, ge=0)
    monthly_tokens: int = Field(default=0, ge=0)
    api_keys: int = Field(default=1, ge=0)
    storage_bytes: int = Field(default=5 * 1024**3, ge=0)
    support: str | None = None

    @field_validator("tier")
    @classmethod
    def _upper(cls, v: str) -> str:
        if not v or not v.replace("_", "").isalnum():
            raise ValueError("tier must be letters, digits or underscores")
        return v.upper()


DEFAULT_PLANS = [
    PlanConfig(tier="FREE", name="Free", monthly_price=0, monthly_tokens=1_000, api_keys=1),
    PlanConfig(
        tier="PRO",
        name="Pro",
        monthly_price=2900,
        yearly_price=24900,
        monthly_tokens=50_000,
        api_keys=10,
        support="Priority",
    ),
]


class Catalog(BaseModel):
    """What the TOML file declares: providers, models and plans."""

    default_model: str | None = None
    providers: list[ProviderConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)
    plans: list[PlanConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        provider_ids = [p.id for p in self.providers]
        if len(set(provider_ids)) != len(provider_ids):
            raise ValueError("providers: duplicate id")
        model_ids = [m.id for m in self.models]
        if len(set(model_ids)) != len(model_ids):
            raise ValueError("models: duplicate id")
        provider_types = {p.id: p.type for p in self.providers}
        for m in self.models:
            for d in m.deployments:
                if d.provider not in provider_ids:
                    raise ValueError(f"models.{m.id}.provider: unknown provider '{d.provider}'")
                for mode in m.modes:
                    if provider_types[d.provider] not in MODE_PROVIDERS[mode]:
                        kind = provider_types[d.provider]
                        raise ValueError(
                            f"models.{m.id}.modes: a {kind} provider cannot serve {mode}"
                        )
            for fb in m.fallbacks:
                if fb not in model_ids:
                    raise ValueError(f"models.{m.id}.fallbacks: unknown model '{fb}'")
        if self.default_model and self.default_model not in model_ids:
            raise ValueError(f"default_model: unknown model '{self.default_model}'")
        return self

    def with_defaults(self) -> Catalog:
        providers = self.providers
        models = self.models
        if not providers and not models:
            providers = [ProviderConfig(id="local", type="llamacpp")]
            models = [
                ModelConfig(
                    id=DEFAULT_MODEL_ID,
                    provider="local",
                    owned_by="huggingface",
                    modes=["chat", "embeddings"],
                )
            ]
        plans = {p.tier: p for p in DEFAULT_PLANS}
        for p in self.plans:
            plans[p.tier] = p
        return Catalog(
            default_model=self.default_model or (models[0].id if models else None),
            providers=providers,
            models=models,
            plans=list(plans.values()),
        )


def check_storage_url(url: str) -> None:
    """ValueError unless `url` is a directory or s3://bucket/prefix."""
    if "://" in url and not url.startswith("file://"):
        from llmportal.storage.s3 import parse_s3_url

        parse_s3_url(url)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMPORTAL_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    database_url: str = "sqlite+aiosqlite:///./data/portal.db"
    redis_url: str | None = None
    redis_prefix: str = "llmportal:"
    secret_key: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    email_from: str = "LLM Portal <no-reply@localhost>"
    require_email_verification: bool = True
    storage_dir: str = "./data/files"
    # Unset: files live under storage_dir. A directory, or s3://bucket/prefix on any S3 API
    # (s3_endpoint_url for MinIO, R2, ...; credentials from the usual AWS chain).
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)  # per uploaded file
    data_dir: str = "./data"
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    metrics_token: str | None = None
    log_format: Literal["text", "json"] | None = None
    # Comma-separated in the environment (NoDecode: not parsed as JSON first).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    config: str | None = None
    session_ttl_hours: int = Field(default=24 * 14, ge=1)
    default_max_tokens: int = Field(default=1024, ge=1)
    # A request body must keep arriving (a chunk within the idle timeout) and be complete
    # within the total one; past either the answer is 408.
    body_idle_timeout_s: float = Field(default=30.0, gt=0)
    body_timeout_s: float = Field(default=600.0, gt=0)
    # Per-rule overrides of the account endpoints' limits, e.g. {"login": 100} behind a NAT
    # where many users share one address (rules: register, resend-verification,
    # forgot-password, login, 2fa, password-change, org-invite).
    rate_limits: dict[str, int] = Field(default_factory=dict)
    login_max_failures: int = Field(default=10, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)

    catalog: Catalog = Field(default_factory=Catalog, exclude=True)

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str) -> str:
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("smtp://", "smtps://")):
            raise ValueError("must start with smtp:// or smtps://")
        return v

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        check_storage_url(v)
        return v

    @field_validator("s3_endpoint_url")
    @classmethod
    def _s3_endpoint(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"'{cidr}' is not an IP address or CIDR") from exc
        return v

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in data_dir/secret.key."""
        if self.secret_key:
            return self.secret_key
        path = Path(self.data_dir) / "secret.key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


_FILE_KEYS = {name for name in Settings.model_fields if name != "catalog"}


def _format_error(exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
    msg = err["msg"].removeprefix("Value error, ")
    name = f"{prefix}{loc}".upper() if prefix else loc
    return f"invalid setting {name}: {msg}" if name else f"invalid configuration: {msg}"


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Load settings; raise ConfigError with one line naming the bad setting."""
    path = config_file or os.environ.get("LLMPORTAL_CONFIG")
    file_data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                file_data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    catalog_data = {k: file_data.pop(k) for k in list(file_data) if k in Catalog.model_fields}
    unknown = set(file_data) - _FILE_KEYS
    if unknown:
        raise ConfigError(f"unknown setting in {path}: {sorted(unknown)[0]}")
    try:
        catalog = Catalog.model_validate(catalog_data).with_defaults()
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from exc
    env_keys = {name for name in _FILE_KEYS if f"LLMPORTAL_{name.upper()}" in os.environ} | set(
        overrides
    )
    init = {k: v for k, v in file_data.items() if k not in env_keys}
    init.update(overrides)
    try:
        settings = Settings(**init)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, prefix="LLMPORTAL_")) from exc
    settings.catalog = catalog
    settings.config = path
    return settings
