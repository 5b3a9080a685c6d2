"""Every test process sees 8 CPU devices, so sharding tests can build real meshes."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")


def pytest_configure(config):
  # The README's test command leaves these out (-m "not slow"); run them with -m slow.
  config.addinivalue_line("markers", "slow: the crash batteries (many training processes "
                          "killed and resumed), the four-process training run and the "
                          "released-weights end-to-end run: minutes each")
