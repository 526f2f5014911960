"""Benchmarks of the trainer's speed claims; run each as ``python -m bench.<name>``."""
