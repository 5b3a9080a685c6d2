"""BiomedGPT-XLarge (~930M) instruction tuning on a mixture over all six task families.

On a TPU pod the mesh fills fsdp with every chip; on a CPU try
--config.model.variant=tiny (see README).
"""

from biomed_jax import config_lib


def get_config():
  c = config_lib.base_config("xlarge")
  c.model.dtype = "bfloat16"
  c.model.remat_policy = "dots_with_no_batch_dims"
  c.model.dropout_rate = 0.1
  c.mesh.fsdp = -1
  c.data.batch_size = 256
  c.data.max_source_len = 256
  c.data.max_target_len = 128
  c.optimizer.learning_rate = 5e-5
  c.optimizer.warmup_steps = 1000
  c.train.num_steps = 50_000
  return c
