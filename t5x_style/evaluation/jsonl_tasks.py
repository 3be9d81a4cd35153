"""Tasks from a small user file, so a new task needs no code (`eval.tasks` names its path).

JSONL, one example per line (the task is named after the file):
    {"query": "The capital of France is", "choices": ["Paris", "Rome"], "gold": 0}
    {"query": "Two plus two is", "continuation": "four"}          <- cloze (greedy match + LL)
`gold` may be a list when several choices are correct. All lines must be of one kind.

JSON, the same examples under "examples" plus optional task fields:
    {"name": "capitals", "description": "", "target_delimiter": " ", "fewshot_delimiter": "\\n\\n",
     "examples": [...], "fewshot_examples": [...]}
Demonstrations come from "fewshot_examples" if given, else from the other examples.
A missing or malformed field is a TaskError naming the file, the task and the example index.
"""

import json
import pathlib

from t5x_style.evaluation import tasks as tasks_lib

TASK_FIELDS = ("name", "description", "target_delimiter", "fewshot_delimiter", "examples",
               "fewshot_examples")


def _kind(raw: dict) -> str:
    return "cloze" if "continuation" in raw else "multiple_choice"


def parse_example(raw, task: str, index: int) -> tasks_lib.Example:
    where = f"task {task!r} example {index}"
    if not isinstance(raw, dict):
        raise tasks_lib.TaskError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    if not isinstance(raw.get("query"), str):
        raise tasks_lib.TaskError(f"{where}: missing string field 'query' (fields: {sorted(raw)})")
    if _kind(raw) == "cloze":
        if not isinstance(raw["continuation"], str):
            raise tasks_lib.TaskError(f"{where}: 'continuation' must be a string")
        return tasks_lib.Example(raw["query"], (raw["continuation"],), (0,))
    choices, gold = raw.get("choices"), raw.get("gold")
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise tasks_lib.TaskError(f"{where}: needs 'choices', a list of strings (or "
                                  f"'continuation' for a cloze); fields: {sorted(raw)}")
    gold = [gold] if isinstance(gold, int) and not isinstance(gold, bool) else gold
    if not isinstance(gold, list) or not all(isinstance(g, int) for g in gold):
        raise tasks_lib.TaskError(f"{where}: 'gold' must be an index or a list of indices into "
                                  f"the {len(choices)} choices, got {raw.get('gold')!r}")
    return tasks_lib.Example(raw["query"], tuple(choices), tuple(gold))


def _examples(raws, task: str) -> tuple[list[tasks_lib.Example], str]:
    if not isinstance(raws, list) or not raws:
        raise tasks_lib.TaskError(f"task {task!r}: 'examples' must be a non-empty list")
    kinds = {_kind(r) if isinstance(r, dict) else None for r in raws}
    if len(kinds) > 1:
        raise tasks_lib.TaskError(f"task {task!r}: examples mix kinds {sorted(map(str, kinds))}; "
                                  "use either 'choices'+'gold' or 'continuation' throughout")
    kind = kinds.pop() or "multiple_choice"
    examples = [parse_example(r, task, i) for i, r in enumerate(raws)]
    for i, example in enumerate(examples):  # indices of the file, before any subsampling
        tasks_lib.check_example(task, i, example, kind)
    return examples, kind


def load(path: str, max_items: int, sample_seed: int) -> tasks_lib.Task:
    file = pathlib.Path(path).expanduser()
    if not file.is_file():
        raise tasks_lib.TaskError(f"task file {str(file)!r} does not exist")
    text = file.read_text()
    spec: dict = {"name": file.stem}
    if file.suffix == ".jsonl":
        raws = []
        for line_number, line in enumerate(text.splitlines()):
            if line.strip():
                try:
                    raws.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise tasks_lib.TaskError(f"task {file.stem!r} ({file}) line {line_number + 1}: "
                                              f"not JSON ({e})") from None
        spec["examples"] = raws
    else:
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as e:
            raise tasks_lib.TaskError(f"task file {str(file)!r} is not JSON ({e})") from None
        if not isinstance(loaded, dict):
            raise tasks_lib.TaskError(f"task file {str(file)!r}: expected an object with "
                                      "'examples' (or use .jsonl for one example per line)")
        unknown = sorted(set(loaded) - set(TASK_FIELDS))
        if unknown:
            raise tasks_lib.TaskError(f"task file {str(file)!r}: unknown fields {unknown}; "
                                      f"allowed: {list(TASK_FIELDS)}")
        spec.update(loaded)
    name = spec["name"]
    examples, kind = _examples(spec.get("examples"), name)
    pool = examples
    if "fewshot_examples" in spec:
        pool, _ = _examples(spec["fewshot_examples"], f"{name} (fewshot_examples)")
    return tasks_lib.Task(
        name=name, kind=kind, examples=tasks_lib.subsample(examples, max_items, sample_seed),
        fewshot_pool=pool, description=spec.get("description", ""),
        target_delimiter=spec.get("target_delimiter", " "),
        fewshot_delimiter=spec.get("fewshot_delimiter", "\n\n"), available=len(examples))
