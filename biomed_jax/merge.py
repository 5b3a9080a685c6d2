"""python -m biomed_jax.merge: weight interpolation and model merging (biomed_jax/merging/)."""

from biomed_jax.merging import cli

if __name__ == "__main__":
  cli.run()
