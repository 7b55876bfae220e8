"""Read Debian's WordNet 3.0 (`wordnet-base`) through nltk, without any download."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from ctxembed._io import cache_root
from ctxembed.errors import AssetNotFoundError

WORDNET_DIR = Path("/usr/share/wordnet")
# lexnames(5WN): the 45 lexicographer files. Debian's package lacks this file and nltk needs it.
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_text() -> str:
    """The `lexnames` file: number, lexicographer file name and syntactic category per line."""
    return "".join(f"{i:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES))


def nltk_data_dir(cache: str | Path | None = None, source: Path = WORDNET_DIR) -> Path:
    """An nltk_data folder holding a copy of WordNet (nltk refuses symlinks out of its folder)."""
    if not (source / "data.noun").is_file():
        raise AssetNotFoundError(f"WordNet 3.0 not found in {source}; install it: apt-get install wordnet-base")
    root = Path(cache or cache_root()) / "nltk_data"
    target = root / "corpora" / "wordnet"
    if not (target / "lexnames").is_file():
        tmp = root / "corpora" / f".wordnet.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for file in source.iterdir():
            if file.is_file():
                shutil.copy2(file, tmp / file.name)
        (tmp / "lexnames").write_text(lexnames_text(), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    return root


def load_wordnet(cache: str | Path | None = None) -> Any:
    """An nltk `WordNetCorpusReader` over the Debian copy."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = nltk_data_dir(cache)
    if str(root) not in nltk.data.path:  # nltk only reads corpora below its data path
        nltk.data.path.append(str(root))
    with warnings.catch_warnings():  # "multilingual functions are not available": not needed here
        warnings.filterwarnings("ignore", message="The multilingual functions", category=UserWarning)
        return WordNetCorpusReader(str(root / "corpora" / "wordnet"), None)
