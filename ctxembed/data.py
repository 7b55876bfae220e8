"""Corpus input: .txt (a line or a file per document), BEIR .jsonl, .csv and .parquet."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctxembed.assets import resolve_data_path
from ctxembed.config import CorpusConfig
from ctxembed.errors import CorpusError

# A sentence ends at . ! ? before a capital, digit or quote, but not after a common abbreviation; or at a line break.
_ABBREVIATIONS = "".join(
    rf"(?<!\b{a})"
    for a in (r"e\.g\.", r"i\.e\.", r"etc\.", r"vs\.", r"Dr\.", r"Mr\.", r"Mrs\.", r"Ms\.", r"No\.", r"cf\.")
)
_SENTENCE_END = re.compile(_ABBREVIATIONS + r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])|\n+")
# In hard-wrapped text a sentence runs over lines: only a blank line ends one, or . ! ? before a capital or quote.
_WRAPPED_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])|\n{2,}")


def split_sentences(text: str, *, wrapped: bool = False) -> list[str]:
    """Sentences (or lines) of a text, as whitespace-normalised strings; `wrapped`: a single line break
    does not end a sentence (hard-wrapped text)."""
    pattern = _WRAPPED_SENTENCE_END if wrapped else _SENTENCE_END
    return [" ".join(s.split()) for s in pattern.split(text) if s.strip()]


@dataclass(frozen=True)
class Document:
    """One document of a corpus; `title` is empty when the source has none. `metadata` holds its other fields
    (strings, numbers, booleans, lists of strings), which searches can filter on."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def full_text(self) -> str:
        """Title and text together, as they are embedded."""
        return f"{self.title}. {self.text}" if self.title else self.text


def load_corpus(config: CorpusConfig | str) -> list[Document]:
    """Read a whole corpus into memory; errors name the file (and line) and say how to fix it."""
    docs = list(iter_corpus(config))
    if not docs:
        raise CorpusError(f"corpus {corpus_path(config)} holds no documents (every line or file is empty)")
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise CorpusError(f"corpus {corpus_path(config)}: document id {doc.id!r} occurs twice; ids must be unique")
        seen.add(doc.id)
    return docs


def corpus_path(config: CorpusConfig | str) -> Path:
    """The existing file or folder a corpus config names (well-known names resolved)."""
    path = Path(resolve_data_path(config if isinstance(config, str) else config.path)).expanduser()
    if not path.exists():
        raise CorpusError(
            f"corpus {path} not found; pass an existing .txt/.jsonl/.csv/.parquet file or a folder "
            f"of .txt files (corpus.path)"
        )
    return path


def corpus_source(config: CorpusConfig) -> str:
    """Path, size and modification time of a corpus file: what a resumed build checks is unchanged."""
    path = corpus_path(config)
    files = corpus_files(path) if path.is_dir() else [path]
    stats = [(f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    digest = hashlib.sha1(repr(stats).encode()).hexdigest()[:16]
    return f"{path.resolve()}:{len(files)} file(s):{digest}"


def iter_corpus(config: CorpusConfig | str) -> Iterator[Document]:
    """Documents one at a time, as the file is read (no list of the whole corpus); ids are not checked."""
    if isinstance(config, str):
        config = CorpusConfig(path=config)
    path = corpus_path(config)
    if path.is_dir():
        return _read_txt_folder(path, config.encoding)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path, config)
    if suffix in (".csv", ".parquet"):
        return _read_table(path, config)
    return _read_txt_lines(path, config.encoding)


def _decode(raw: bytes, path: Path, line: int | None, encoding: str) -> str:
    if line in (None, 1) and encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # a byte-order mark is not part of the first document
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        where = f"{path}, line {line}" if line is not None else str(path)
        raise CorpusError(
            f"{where}: cannot decode byte {raw[exc.start]:#04x} at offset {exc.start} as {encoding}; "
            f"re-encode the file as UTF-8 or set corpus.encoding (e.g. latin-1)"
        ) from exc


def _read_txt_lines(path: Path, encoding: str) -> Iterator[Document]:
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = _decode(raw, path, lineno, encoding).strip()
            if text:
                yield Document(id=str(lineno), text=text)


def corpus_files(folder: Path) -> list[Path]:
    """The .txt files under a corpus folder, sorted; a link whose target is gone is skipped with a warning."""
    files = []
    for candidate in sorted(folder.rglob("*.txt")):
        if candidate.is_file():
            files.append(candidate)
        elif candidate.is_symlink() and not candidate.exists():
            warnings.warn(f"{candidate}: skipped, a symbolic link whose target does not exist", stacklevel=2)
    return files


def _read_txt_folder(path: Path, encoding: str) -> Iterator[Document]:
    files = corpus_files(path)
    if not files:
        raise CorpusError(f"corpus folder {path} has no .txt files; put one document per .txt file")
    return _read_txt_files(path, files, encoding)


def _read_txt_files(path: Path, files: list[Path], encoding: str) -> Iterator[Document]:
    for file in files:
        text = _decode(file.read_bytes(), file, None, encoding).strip()
        if text:
            yield Document(id=str(file.relative_to(path).with_suffix("")), text=text)


def _read_jsonl(path: Path, config: CorpusConfig) -> Iterator[Document]:
    id_key = config.id_column or "_id"
    title_key = config.title_column or "title"
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = _decode(raw, path, lineno, config.encoding).strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}, line {lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or config.text_column not in row:
                raise CorpusError(
                    f"{path}, line {lineno}: missing key {config.text_column!r}; each line must be an "
                    f'object like {{"_id": "d1", "title": "", "text": "..."}} (or set corpus.text_column)'
                )
            doc_id = row.get(id_key, str(lineno))
            text, title = row[config.text_column], row.get(title_key) or ""
            if isinstance(doc_id, int) and not isinstance(doc_id, bool):
                doc_id = str(doc_id)
            for key, value in ((id_key, doc_id), (config.text_column, text), (title_key, title)):
                _check_string(value, f"{path}, line {lineno}", key)
            extra = {k: v for k, v in row.items() if k not in (id_key, config.text_column, title_key)}
            if text.strip() or title.strip():
                yield Document(doc_id, text, title, check_metadata(extra, f"{path}, line {lineno}"))


def check_metadata(fields: dict[str, Any], where: str) -> dict[str, Any]:
    """A document's metadata, checked: strings, numbers, booleans or lists of strings (null: the field is left
    out); anything else is an error that names the field."""
    out: dict[str, Any] = {}
    nested = fields.get("metadata")
    if isinstance(nested, dict):  # BEIR's corpus lines carry a "metadata" object: its fields are the metadata
        fields = {**{k: v for k, v in fields.items() if k != "metadata"}, **nested}
    for key, value in fields.items():
        if value is None:
            continue
        plain = isinstance(value, (str, bool, int, float))
        if not (plain or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
            raise CorpusError(
                f"{where}: field {key!r} is {json.dumps(value)[:40]}; metadata must be a string, number, boolean or "
                f"list of strings (flatten it, or drop the field)"
            )
        out[key] = value
    return out


def _check_string(value: object, where: str, key: str) -> None:
    """Refuse a non-string field (null, list, number) and text that cannot be written back as UTF-8."""
    if not isinstance(value, str):
        raise CorpusError(f"{where}: {key!r} must be a string, got {json.dumps(value)[:40]}; quote it or fix the row")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CorpusError(f"{where}: {key!r} holds a lone surrogate escape (e.g. \\ud800); remove it") from exc


def _read_table(path: Path, config: CorpusConfig) -> Iterator[Document]:
    """Rows of a .csv (in `corpus.encoding`) or .parquet file, read in batches by pyarrow."""
    import pyarrow as pa

    try:
        if path.suffix.lower() == ".csv":
            from pyarrow import csv

            batches = csv.open_csv(path, read_options=csv.ReadOptions(encoding=config.encoding, block_size=1 << 22))
            schema = batches.schema
        else:
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            batches, schema = parquet.iter_batches(batch_size=4096), parquet.schema_arrow
        columns = list(schema.names)
        for key in ("text_column", "id_column", "title_column"):
            column = getattr(config, key)
            if column is not None and column not in columns:
                raise CorpusError(f"{path}: no column {column!r} (corpus.{key}); the columns are: {', '.join(columns)}")
        missing = [c for c in config.metadata_columns if c not in columns]
        if missing:
            raise CorpusError(
                f"{path}: no column {missing[0]!r} (corpus.metadata_columns); the columns are: {', '.join(columns)}"
            )
        row = 0
        for batch in batches:
            data = batch.to_pydict()
            for i in range(batch.num_rows):
                row += 1
                text = data[config.text_column][i]
                if isinstance(text, bytes):  # pyarrow keeps text that is not valid UTF-8 as raw bytes
                    raise CorpusError(
                        f"{path}, row {row}: text is not valid {config.encoding}; check corpus.encoding (e.g. latin-1)"
                    )
                if text is None or not str(text).strip():
                    continue
                doc_id = str(data[config.id_column][i]) if config.id_column else str(row)
                title = str(data[config.title_column][i] or "") if config.title_column else ""
                extra = {column: data[column][i] for column in config.metadata_columns}
                yield Document(doc_id, str(text).strip(), title, check_metadata(extra, f"{path}, row {row}"))
    except UnicodeDecodeError as exc:  # csv text in another encoding than corpus.encoding
        raise CorpusError(f"{path}: cannot decode as {config.encoding} ({exc.reason}); check corpus.encoding") from exc
    except (pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the system refused (disk, permissions): its own message names the cause
        # a malformed table: pyarrow raises ArrowInvalid, or an OSError without errno for a damaged parquet file
        hint = "; check corpus.encoding" if "utf8" in str(exc).lower() else ""
        raise CorpusError(f"{path}: cannot read as a table: {' '.join(str(exc).split())[:200]}{hint}") from exc
