"""llmportal: a self-hostable LLM portal."""

__version__ = "0.1.0"
