"""Evaluation metrics: pure functions of samples or feature arrays; no model knowledge."""
