"""BiomedGPT-style vision-language models in JAX/Flax."""
