"""`python -m t5x_style.evaluate --workdir=DIR [--tasks=...] [--num_fewshot=0,1,5]`: the zero/few-shot
suite on a run's latest checkpoint. The command lives in `t5x_style/evaluation/__main__.py`
(also `python -m t5x_style.evaluation`); this name is the one the docs use."""

import runpy

if __name__ == "__main__":
    runpy.run_module("t5x_style.evaluation", run_name="__main__", alter_sys=True)
