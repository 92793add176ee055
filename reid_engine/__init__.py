"""LostPet Re-ID engine: photo loading, DINOv2 embeddings, the registry and search.

This package never imports Qt. Importing it is cheap: torch, timm and faiss load only when a model
or an index is first used, so the desktop window can appear before the model is ready.
"""

__version__ = "0.1.0"
