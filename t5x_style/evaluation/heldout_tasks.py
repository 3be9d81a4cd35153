"""Tasks built from the corpus's held-out documents (never trained on): real text as the gold
answers, so nobody writes labels, and small models get a signal above chance.

heldout:lambada      LAMBADA-style last word. For every sentence-final word of a held-out
                     document that has >= 3 letters, is not a stopword and already occurs in the
                     preceding text (LAMBADA's filter), the context is the preceding <= 80 words
                     and the continuation " word". A cloze: acc = greedy match, and its
                     log-likelihood / perplexity.
heldout:description  Wikipedia short-description choice. "Article: <first sentences>\\nShort
                     description:" with the document's own `description` and 3 distractors from
                     documents of the same topic (the whole corpus where the topic has fewer than
                     4 distinct descriptions), in a seeded order. Random baseline 0.25.
"""

import random
import re
from collections.abc import Sequence

from t5x_style.data import tfds_builder
from t5x_style.evaluation import tasks as tasks_lib

CONTEXT_WORDS = 80  # LAMBADA passages average ~4.6 sentences, ~75 words of context
MIN_CONTEXT_WORDS = 20  # fewer and the "occurs in the context" filter is nearly vacuous
EXCERPT_CHARS = 300  # article excerpt for the description choice: the lead sentence or two
NUM_CHOICES = 4
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just me
more most my myself no nor not now of off on once only or other our ours ourselves out over own
same she should so some such than that the their theirs them themselves then there these they this
those through to too under until up very was we were what when where which while who whom why will
with would you your yours yourself yourselves one two many much may might must shall
""".split())
_SENTENCE_END_WORD = re.compile(r"([A-Za-z]+)[.!?](?=\s|$)")
_WORD = re.compile(r"\S+")


def documents(records: Sequence[dict]) -> list[dict]:
    """Held-out records joined back into whole documents (parts in order), sorted by title."""
    grouped: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        grouped.setdefault((record["source"], record["title"]), []).append(record)
    out = []
    for (_, title), parts in sorted(grouped.items()):
        parts.sort(key=lambda r: r["part"])
        out.append(dict(parts[0], text="\n\n".join(p["text"] for p in parts), title=title))
    return out


def cloze_examples(docs: Sequence[dict]) -> list[tasks_lib.Example]:
    examples = []
    for doc in docs:
        text = doc["text"]
        for match in _SENTENCE_END_WORD.finditer(text):
            word = match.group(1)
            before = text[:match.start(1)]
            words = list(_WORD.finditer(before))
            if (len(word) < 3 or word.lower() in STOPWORDS or len(words) < MIN_CONTEXT_WORDS):
                continue
            start = words[-CONTEXT_WORDS].start() if len(words) > CONTEXT_WORDS else 0
            context = before[start:].rstrip()
            if not before[len(before.rstrip()):] or not re.search(
                    rf"\b{re.escape(word.lower())}\b", context.lower()):
                continue  # glued to the previous token, or not seen in the context
            examples.append(tasks_lib.Example(context, (word,), (0,)))
    return examples


def excerpt(text: str, max_chars: int = EXCERPT_CHARS) -> str:
    """Whole leading sentences up to max_chars (at least the first sentence, cut at max_chars)."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    out = sentences[0]
    if len(out) > max_chars:
        out = out[:out.rfind(" ", 0, max_chars)] if " " in out[:max_chars] else out[:max_chars]
    for sentence in sentences[1:]:
        if len(out) + 1 + len(sentence) > max_chars:
            break
        out += " " + sentence
    return out


def description_examples(docs: Sequence[dict], seed: int) -> list[tasks_lib.Example]:
    docs = [d for d in docs if d["description"].strip()]
    by_topic: dict[str, set[str]] = {}
    for doc in docs:
        by_topic.setdefault(doc["topic"], set()).add(doc["description"].strip())
    everything = sorted({d["description"].strip() for d in docs})
    examples = []
    for doc in docs:
        gold = doc["description"].strip()
        pool = sorted(by_topic[doc["topic"]])
        if len(pool) < NUM_CHOICES:
            pool = everything
        rng = random.Random(f"{seed}/description/{doc['title']}")
        distractors = rng.sample([d for d in pool if d.lower() != gold.lower()], NUM_CHOICES - 1)
        choices = [gold] + distractors
        rng.shuffle(choices)
        query = f"Article: {excerpt(doc['text'])}\nShort description:"
        examples.append(tasks_lib.Example(query, tuple(choices), (choices.index(gold),)))
    return examples


def load(name: str, max_items: int, sample_seed: int, corpus: str = "wiki_en",
         data_dir: str = "") -> tasks_lib.Task:
    """heldout:lambada or heldout:description from `corpus`'s held-out documents."""
    docs = documents(tfds_builder.heldout_documents(corpus, data_dir))
    if name == "lambada":
        examples, kind = cloze_examples(docs), "cloze"
    elif name == "description":
        examples, kind = description_examples(docs, sample_seed), "multiple_choice"
    else:
        raise tasks_lib.TaskError(f"unknown held-out task 'heldout:{name}'; allowed: "
                                  "heldout:lambada, heldout:description")
    skipped = {}
    if name == "description" and len(examples) < len(docs):
        skipped["no description"] = len(docs) - len(examples)
    return tasks_lib.Task(name=f"heldout:{name}", kind=kind,
                          examples=tasks_lib.subsample(examples, max_items, sample_seed),
                          fewshot_pool=examples, skipped=skipped, available=len(examples))
