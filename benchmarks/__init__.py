"""Latency, size and accuracy harnesses (host and Android)."""
