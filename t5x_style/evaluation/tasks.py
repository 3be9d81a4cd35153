"""Tasks: examples with choices, and few-shot prompts built the lm-evaluation-harness way.

An example is a query (the harness's doc_to_text), its choices (doc_to_choice) and the indices of
the correct ones. A k-shot prompt for example i is

    description + demo_1 + fewshot_delimiter + ... + demo_k + fewshot_delimiter + query
    demo_j = demo.query + target_delimiter + demo.choices[demo.gold[0]]

and choice c is scored as the continuation target_delimiter + c (target_delimiter=" ",
fewshot_delimiter="\\n\\n" by default). Demonstrations are drawn without replacement from the
task's few-shot pool (its train split, or else all its examples; duplicates counted once), never
the scored example nor a copy of it (same query, choices and gold). The draw uses random.Random(f"{seed}/{task}/{i}"): seed 1234
by default as the harness, but seeded per example, so a prompt does not depend on which other
items were evaluated before it (the harness shares one stream per task).

Kinds:
  multiple_choice  acc = argmax of the summed log-likelihood is correct (T0's rank
                   classification); acc_norm divides by the choice's length in characters.
  cloze            one choice, the gold continuation: acc = greedy match (LAMBADA), plus its
                   log-likelihood and perplexity.
"""

import dataclasses
import random
from collections.abc import Sequence

from t5x_style.evaluation.requests import Request

KINDS = ("multiple_choice", "cloze")


class TaskError(ValueError):
    """A task that cannot be built or evaluated: names the task and, where one is at fault, the
    example index."""


@dataclasses.dataclass(frozen=True)
class Example:
    query: str
    choices: tuple[str, ...]
    gold: tuple[int, ...]  # indices of the correct choices (BIG-bench allows ties for the best)


@dataclasses.dataclass
class Task:
    name: str
    kind: str
    examples: list[Example]  # the scored items (already subsampled)
    fewshot_pool: list[Example]  # where demonstrations come from
    description: str = ""  # prepended once, before the demonstrations (BIG-bench task_prefix)
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    group: str = ""  # the parent task whose score averages this one's (BIG-bench subtasks)
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)  # reason -> items dropped
    available: int = 0  # items before subsampling

    def __post_init__(self):
        if self.kind not in KINDS:
            raise TaskError(f"task {self.name!r}: kind={self.kind!r}; allowed: {list(KINDS)}")
        self.group = self.group or self.name
        self.available = self.available or len(self.examples)
        for i, example in enumerate(self.examples):
            check_example(self.name, i, example, self.kind)
        if not self.examples:
            raise TaskError(f"task {self.name!r} has no examples to score "
                            f"(skipped: {self.skipped or 'none'})")

    @property
    def random_baseline(self) -> float:
        """Expected accuracy of a uniform random choice (0 for cloze: no choices to guess among)."""
        if self.kind == "cloze":
            return 0.0
        return sum(len(e.gold) / len(e.choices) for e in self.examples) / len(self.examples)


def check_example(task: str, index: int, example: Example, kind: str) -> None:
    where = f"task {task!r} example {index}"
    if not example.choices:
        raise TaskError(f"{where}: no choices")
    if kind == "cloze" and len(example.choices) != 1:
        raise TaskError(f"{where}: a cloze example has one continuation, got "
                        f"{len(example.choices)}")
    if not example.gold or any(not 0 <= g < len(example.choices) for g in example.gold):
        raise TaskError(f"{where}: gold={example.gold} must name at least one of the "
                        f"{len(example.choices)} choices")
    if any(not c for c in example.choices):
        raise TaskError(f"{where}: an empty choice cannot be scored")


def subsample(examples: Sequence, max_items: int, seed: int) -> list:
    """At most max_items examples, a fixed-seed sample kept in the original order."""
    if len(examples) <= max_items:
        return list(examples)
    keep = sorted(random.Random(seed).sample(range(len(examples)), max_items))
    return [examples[i] for i in keep]


def demonstrations(task: Task, index: int, shots: int, seed: int) -> list[Example]:
    """`shots` pool examples for scored example `index`, never that example (nor a duplicate)."""
    if shots == 0:
        return []
    scored = task.examples[index]
    candidates = [e for e in dict.fromkeys(task.fewshot_pool) if e != scored]  # distinct
    if len(candidates) < shots:
        raise TaskError(f"task {task.name!r} example {index}: {shots} shots asked, but the pool "
                        f"has only {len(candidates)} other examples")
    return random.Random(f"{seed}/{task.name}/{index}").sample(candidates, shots)


def fewshot_context(task: Task, index: int, shots: int, seed: int) -> str:
    demos = demonstrations(task, index, shots, seed)
    labeled = "".join(d.query + task.target_delimiter + d.choices[d.gold[0]] + task.fewshot_delimiter
                      for d in demos)
    return task.description + labeled + task.examples[index].query


def build_requests(task: Task, shots: int, seed: int) -> list[list[Request]]:
    """Per example, one request per choice (same context)."""
    out = []
    for i, example in enumerate(task.examples):
        context = fewshot_context(task, i, shots, seed)
        out.append([Request(context, task.target_delimiter + c) for c in example.choices])
    return out
