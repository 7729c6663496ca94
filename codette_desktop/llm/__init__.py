"""Adapter to a local model server (Ollama, LM Studio, llama.cpp) speaking the OpenAI
chat-completions API: a streaming client, its wire format and a per-model queue."""

from codette_desktop.llm.client import ChatStream, LLMClient, LLMStatus, StreamStats, TextStream
from codette_desktop.llm.gate import LLMGate

__all__ = ["ChatStream", "LLMClient", "LLMGate", "LLMStatus", "StreamStats", "TextStream"]
