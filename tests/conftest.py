"""Test-session set-up: 8 fake CPU devices (for sharding tests) and fast compiles.

XLA_FLAGS must be set before JAX starts, so this runs first; subprocess tests set their own.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402  (after the environment above, on purpose)

# Tiny models compile longer than they run; most XLA optimisations only cost time here.
jax.config.update("jax_disable_most_optimizations", True)
