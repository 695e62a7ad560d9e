"""Turning stored card transactions into ledger entries: load a chunk, evaluate, write."""

from rewards.processing.chunk import ChunkResult, process_chunk

__all__ = ["ChunkResult", "process_chunk"]
