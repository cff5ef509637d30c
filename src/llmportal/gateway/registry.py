"""The configured models and the provider objects behind them, built once at start-up."""

from __future__ import annotations

from llmportal.config import Catalog, Mode, ModelConfig, ProviderConfig
from llmportal.errors import PortalError
from llmportal.gateway.providers.anthropic import AnthropicProvider
from llmportal.gateway.providers.azure import AzureProvider
from llmportal.gateway.providers.base import Provider
from llmportal.gateway.providers.bedrock import BedrockProvider
from llmportal.gateway.providers.gemini import GeminiProvider
from llmportal.gateway.providers.llamacpp import LlamaCppProvider
from llmportal.gateway.providers.openai import OpenAIProvider


def build_provider(cfg: ProviderConfig, default_max_tokens: int) -> Provider:
    if cfg.type == "openai":
        return OpenAIProvider(cfg)
    if cfg.type == "azure":
        return AzureProvider(cfg)
    if cfg.type == "anthropic":
        return AnthropicProvider(cfg, default_max_tokens)
    if cfg.type == "bedrock":
        return BedrockProvider(cfg)
    if cfg.type == "gemini":
        return GeminiProvider(cfg)
    return LlamaCppProvider(cfg, default_max_tokens)


class Registry:
    def __init__(self, catalog: Catalog, default_max_tokens: int) -> None:
        self.models: dict[str, ModelConfig] = {m.id: m for m in catalog.models}
        self.providers: dict[str, Provider] = {
            p.id: build_provider(p, default_max_tokens) for p in catalog.providers
        }

    def model(self, model_id: str) -> ModelConfig:
        found = self.models.get(model_id)
        if found is None:
            raise PortalError(404, f"Model '{model_id}' not found")
        return found

    def candidates(self, model: ModelConfig) -> list[ModelConfig]:
        """The model, then its configured fallbacks, in order."""
        return [model, *(self.models[m] for m in model.fallbacks if m != model.id)]

    def provider(self, model: ModelConfig) -> Provider:
        return self.providers[model.provider]

    def capabilities(self, model: ModelConfig) -> dict[str, bool]:
        """What a client may ask of the model (listed with it, so clients can pick)."""
        local = isinstance(self.providers[model.provider], LlamaCppProvider)
        chat = "chat" in model.modes
        return {
            "chat": chat,
            "embeddings": "embeddings" in model.modes,
            "images": "images" in model.modes,
            "vision": chat and model.vision,
            "tools": chat and not local,
        }

    def for_mode(self, model_id: str, mode: Mode) -> ModelConfig:
        """The model, which must be configured for `mode` (400 naming it otherwise)."""
        model = self.model(model_id)
        if mode not in model.modes:
            what = {"chat": "chat completions", "embeddings": "embeddings", "images": "images"}
            raise PortalError(400, f"Model '{model_id}' does not serve {what[mode]}")
        return model

    async def warm_up(self) -> None:
        for provider in self.providers.values():
            if isinstance(provider, LlamaCppProvider) and any(
                m.provider == provider.id for m in self.models.values()
            ):
                await provider.warm_up()

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()
