"""Azure OpenAI: the OpenAI wire format at one URL per deployment,
{base_url}/openai/deployments/{deployment}/chat/completions?api-version=..., with an `api-key`
header (or `Authorization: Bearer` for a Microsoft Entra token: `azure_auth = "bearer"`).

The model's `upstream_model` names its deployment.
"""

from __future__ import annotations

from urllib.parse import quote

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers.openai import OpenAIProvider

DEFAULT_API_VERSION = "2024-10-21"  # the GA version with stream usage and parallel tool calls


class AzureProvider(OpenAIProvider):
    def __init__(self, cfg: ProviderConfig) -> None:
        super().__init__(cfg)
        self.headers.pop("Authorization", None)
        key = cfg.resolved_api_key()
        if key:
            if cfg.azure_auth == "bearer":
                self.headers["Authorization"] = f"Bearer {key}"
            else:
                self.headers["api-key"] = key
        self.stream_headers = {**self.headers, "Accept": "text/event-stream"}
        self.query = "?api-version=" + quote(cfg.api_version or DEFAULT_API_VERSION, safe="")

    def endpoint(self, model: ModelConfig, path: str) -> str:
        deployment = quote(model.wire_name, safe="")
        return f"{self.base}/openai/deployments/{deployment}{path}{self.query}"
