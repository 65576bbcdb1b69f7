"""Ablation sweeps (`python -m gan_jax.ablate`): many settings x seeds, each
group of settings that shares a compiled program trained as one task of
stacked members on the one loop."""
