"""Running an experiment: the one training loop and what it needs."""
