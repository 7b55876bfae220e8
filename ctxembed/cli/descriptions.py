"""What `ctxembed --help` and each subcommand's help say to a user: what it does, and examples to copy."""

from __future__ import annotations

import argparse
import textwrap

OVERVIEW = """\
Adapt embedding models to your own documents and search them.

ctxembed indexes a corpus (.txt, .jsonl, .csv, .parquet or a folder of .txt files) with a contextual model
(sentence-transformers, optionally LoRA-adapted) or a static one (word vectors, or a model distilled from
the contextual one), searches it by meaning, by keywords (BM25) or both, and measures the result.

examples:
  ctxembed index --corpus docs.jsonl --out runs/my-index
  ctxembed search runs/my-index "how do I rotate the logs" -k 5
  ctxembed finetune --config configs/contextual-lora.yaml
  ctxembed serve runs/my-index

Run `ctxembed COMMAND --help` for a command's options."""

# name -> (what it does for the user, examples)
COMMANDS: dict[str, tuple[str, str]] = {
    "index": (
        "Embed every document of a corpus and save a searchable index folder (FAISS vectors, BM25, the "
        "documents and a manifest naming the model). Documents longer than the model's window are split into "
        "passages. Hybrid search's BM25 weight is chosen from pseudo-queries mined from the corpus, without "
        "labels. An interrupted build continues with --resume.",
        "ctxembed index --corpus docs.jsonl --out runs/docs\n"
        "  ctxembed index --config configs/index-static.yaml --out runs/docs-static\n"
        "  ctxembed index --corpus docs.jsonl --adapter runs/my-lora --out runs/docs-lora --engine ray",
    ),
    "search": (
        "Query a saved index. It loads the model that built the index (checked by content) and prints the best "
        "documents, each with its best passage. Hybrid search (BM25 + embeddings) is the default where the index "
        "has BM25.",
        'ctxembed search runs/docs "open a file for writing" -k 5\n'
        "  ctxembed search runs/docs --queries questions.txt --mode dense --json",
    ),
    "update": (
        "Add the documents of a change file to a saved index, replacing those whose id it already has. Only "
        "those documents are encoded and written (as a new part of the folder); BM25, the passages and the "
        "manifest follow. The folder is swapped in atomically, so a running search or service sees the old "
        "index or the new one. --compact writes the index whole again without its deleted documents, which an "
        "update also does by itself once they pass 20% of the index or the parts pass 16.",
        "ctxembed update runs/docs --corpus changed.jsonl\n  ctxembed update runs/docs --compact",
    ),
    "delete": (
        "Delete documents (with all their passages) from a saved index, by id: on the command line or one id "
        "a line in a file.",
        "ctxembed delete runs/docs old-page-1 old-page-2\n  ctxembed delete runs/docs --ids removed.txt",
    ),
    "tune-fusion": (
        "Choose how much hybrid search weighs BM25 against the embeddings, on labelled queries of a BEIR "
        "dataset, and record the choice in the index.",
        "ctxembed tune-fusion runs/manpages --dataset data/manpages --split dev --dry-run",
    ),
    "finetune": (
        "Adapt a model to your domain text: LoRA adapters (or a full fine-tune) for a contextual model, "
        "continued gensim training for word vectors. Training pairs are mined from the raw documents; the "
        "best checkpoint on a dev split is kept.",
        "ctxembed finetune --config configs/contextual-lora.yaml\n"
        "  ctxembed finetune --config configs/static-glove.yaml --overwrite",
    ),
    "distill": (
        "Distil a fast static model (model2vec) from a contextual one, optionally with its LoRA adapter, and "
        "tune it on the corpus. The result loads wherever word vectors do.",
        "ctxembed distill --config configs/distill.yaml",
    ),
    "senses": (
        "Find words your corpus uses in more than one sense, with example sentences per sense, and compare "
        "them with a static model's nearest neighbours.",
        "ctxembed senses --config configs/senses.yaml --words bank,server",
    ),
    "export": (
        "Merge a LoRA adapter into its base model and save a standalone sentence-transformers folder.",
        "ctxembed export runs/my-lora --merge --out runs/my-model",
    ),
    "evaluate": (
        "Compare BM25, static and contextual models (and their hybrids) on a BEIR dataset, with paired "
        "bootstrap intervals, plus the static-versus-contextual polysemy comparison on WordNet.",
        "ctxembed evaluate --config configs/evaluate.yaml\n"
        "  ctxembed evaluate --config configs/evaluate-pydocs.yaml --split test-tail",
    ),
    "serve": (
        "Serve saved indexes over HTTP: /search, an OpenAI-compatible /v1/embeddings and /v1/models, and a "
        "page that compares the indexes side by side.",
        "ctxembed serve runs/demo/static runs/demo/contextual\n"
        "  ctxembed serve runs/docs --host 0.0.0.0 --api-key $KEY",
    ),
    "demo": (
        "Index one corpus with both backends and print their hits side by side.",
        "ctxembed demo --config configs/demo.yaml --out runs/demo --overwrite",
    ),
}


def describe(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction) -> None:
    """Give `parser` and each subcommand a user-facing description and examples."""
    parser.description = OVERVIEW
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for name, command in sub.choices.items():
        what, examples = COMMANDS[name]
        command.description = textwrap.fill(what, width=100)
        command.epilog = f"examples:\n  {examples}"
        if command.formatter_class is argparse.HelpFormatter:
            command.formatter_class = argparse.RawDescriptionHelpFormatter
