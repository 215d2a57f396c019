"""Qwen2: the Llama layout (grouped KV heads, gated MLP); its config cannot declare an output-projection bias."""
from .base import register_architecture
from .llama import llama_like

register_architecture(llama_like("qwen2", "Qwen2"))
