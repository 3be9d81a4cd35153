"""An arm: one (architecture, objective, model variant) trained at a scale with a seed.

Arms are named `<architecture>-<objective>[-<variant>]`; with the scale and seed appended
(`causal_decoder-full_lm-quick-seed0`) the name is both the arm's directory under
WORKDIR/arms/ and the argument of its config file, so any arm runs alone:

    python -m t5x_style.train \
        --config=configs/experiments/arch_objective.py:causal_decoder-full_lm-cpu-seed0 \
        --workdir=/tmp/arm
Two studies that need the same model share the arm (and its training) by using the same name.
"""

import dataclasses
from collections.abc import Callable

import ml_collections

from t5x_style import config as config_lib
from t5x_style.experiments import scales


@dataclasses.dataclass(frozen=True)
class Arm:
    architecture: str
    objective: str
    variant: str = ""  # Names the model overrides below; "" for the plain model.
    model: tuple[tuple[str, object], ...] = ()  # (field, value) pairs set on config.model.
    # Fields that depend on the scale: config.model (scale applied) -> {field: value}.
    derive: Callable[[ml_collections.ConfigDict], dict] | None = None

    @property
    def name(self) -> str:
        return "-".join(p for p in (self.architecture, self.objective, self.variant) if p)

    def config(self, scale: scales.Scale, seed: int) -> ml_collections.ConfigDict:
        """The complete, finalized run config of this arm at `scale` with `seed`."""
        config = config_lib.default_config()
        config.model.architecture = self.architecture
        config.data.objective = self.objective
        scales.apply(config, scale, seed)
        config.model.update(dict(self.model))
        if self.derive is not None:
            config.model.update(self.derive(config.model))
        return config_lib.finalize(config)

    def run_name(self, scale: scales.Scale, seed: int) -> str:
        return f"{self.name}-{scale.name}-seed{seed}"


def index(*arms: Arm) -> dict[str, Arm]:
    return {arm.name: arm for arm in arms}


def config_from_argument(arms: dict[str, Arm], argument: str) -> ml_collections.ConfigDict:
    """'ARM-SCALE[-seedN]' (e.g. 'causal_decoder-full_lm-cpu-seed1') -> that arm's config."""
    parts = argument.split("-")
    seed = 0
    if parts[-1].startswith("seed") and parts[-1][4:].isdigit():
        seed = int(parts.pop()[4:])
    scale_name, name = parts[-1], "-".join(parts[:-1])
    if name not in arms or scale_name not in scales.SCALES:
        raise ValueError(f"config argument {argument!r} must be ARM-SCALE[-seedN] with ARM in "
                         f"{sorted(arms)} and SCALE in {sorted(scales.SCALES)}")
    return arms[name].config(scales.get_scale(scale_name), seed)
