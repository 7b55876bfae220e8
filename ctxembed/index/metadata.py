"""Documents' metadata as a column table beside the index (`metadata.parquet`), and the filters searches apply.

A filter is `field=value`, `field!=value`, `field in a,b`, or `field>=x`, `field>x`, `field<=x`, `field<x` on
numbers; several filters must all hold. On a list-of-strings field, `=` and `in` match a document that lists
the value. A document without the field matches no condition on it. Filters become a mask over documents,
which dense search hands to FAISS as an id selector and BM25 multiplies into its scores, so a search still
returns k hits whenever k documents match.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctxembed._io import sha256_of
from ctxembed.errors import CorpusError, CtxEmbedError

METADATA_FILE = "metadata.parquet"
_MARK = b', "metadata": {'  # how `document_line` writes a document's metadata: only where it has some
_CONDITION = re.compile(r"^\s*(?P<field>[^\s=!<>]+)\s*(?:(?P<op>>=|<=|!=|=|>|<)|\s(?P<in>in)\s)\s*(?P<value>.*?)\s*$")


@dataclass(frozen=True)
class Condition:
    """One parsed filter."""

    field: str
    op: str  # =, !=, in, >=, >, <=, <
    value: str | tuple[str, ...]


def parse_filter(text: str) -> Condition:
    """`field=value`, `field in a,b`, `field>=3`...; a malformed filter is an error that shows the syntax."""
    match = _CONDITION.match(text)
    if not match or not match["value"]:
        raise CtxEmbedError(
            f"filter {text!r} is not FIELD=VALUE, FIELD!=VALUE, 'FIELD in A,B' or FIELD>=NUMBER (also >, <=, <)"
        )
    if match["in"]:
        return Condition(match["field"], "in", tuple(v.strip() for v in match["value"].split(",") if v.strip()))
    return Condition(match["field"], match["op"], match["value"])


def write_metadata(folder: Path, table: Any = None) -> dict[str, Any] | None:
    """`metadata.parquet` in `folder`: `table`, or from the documents in the folder's store where any has
    metadata; the manifest's record (fields and their types, checksum), or None."""
    import pyarrow.parquet as pq

    if table is None:
        table = _stored_metadata(folder)
    if table is None:
        return None
    pq.write_table(table, folder / METADATA_FILE)
    types = {name: str(table.schema.field(name).type) for name in table.column_names}
    return {"fields": types, "sha256": sha256_of(folder / METADATA_FILE)}


def _stored_metadata(folder: Path) -> Any:
    """The metadata table of the documents in `folder`'s store (None where none has metadata)."""
    from ctxembed.index.store import DOCS_FILE, OFFSETS_FILE, DocStore

    with (folder / DOCS_FILE).open("rb") as docs:
        if docs.seek(0, 2) == 0:
            return None
        with mmap.mmap(docs.fileno(), 0, access=mmap.ACCESS_READ) as view:
            if view.find(_MARK) < 0:
                return None
        with (folder / OFFSETS_FILE).open("rb") as offsets:
            rows = [doc.metadata for doc in DocStore.open(docs, offsets, folder / DOCS_FILE)]
    return metadata_table(rows)


def metadata_table(rows: Sequence[dict[str, Any]]) -> Any:
    """One row a document, one column a field any document has (null where one lacks it)."""
    import pyarrow as pa

    fields = list(dict.fromkeys(key for row in rows for key in row))  # from_pylist would read the first row's only
    try:
        return pa.Table.from_pydict({key: [row.get(key) for row in rows] for key in fields})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CorpusError(
            f"the documents' metadata mixes types in one field ({' '.join(str(exc).split())[:120]}); give each "
            f"field one type (all strings, all numbers, all booleans or all lists of strings)"
        ) from exc


def read_metadata(folder: Path, record: dict[str, Any] | None, documents: int) -> Any:
    """The metadata table a manifest describes (None where no document has metadata), checked."""
    if not record:
        return None
    import pyarrow.parquet as pq

    path = folder / METADATA_FILE
    if not path.is_file() or sha256_of(path) != record.get("sha256"):
        raise CtxEmbedError(f"{path} is missing or does not match its checksum in the manifest; rebuild the index")
    table = pq.read_table(path, memory_map=True)
    if table.num_rows != documents:
        raise CtxEmbedError(f"{path} holds {table.num_rows} rows for {documents} documents; rebuild the index")
    return table


def matching(table: Any, filters: Sequence[str], documents: int) -> np.ndarray:
    """A boolean mask over the documents: True where every filter holds."""
    mask = np.ones(documents, dtype=bool)
    for text in filters:
        mask &= _condition_mask(table, parse_filter(text))
    return mask


def _condition_mask(table: Any, condition: Condition) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    names = [] if table is None else table.column_names
    if condition.field not in names:
        known = ", ".join(names) if names else "none (the corpus had no metadata)"
        raise CtxEmbedError(f"no document has a field {condition.field!r} to filter on; the fields are: {known}")
    column = table.column(condition.field)
    kind = column.type
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        if condition.op not in ("=", "in"):
            raise CtxEmbedError(f"field {condition.field!r} holds lists of strings; filter it with = or in")
        flat = pc.list_flatten(column)
        hit = np.asarray(pc.is_in(flat, value_set=pa.array(values, type=flat.type)).to_numpy(zero_copy_only=False))
        mask = np.zeros(len(table), dtype=bool)
        parents = np.asarray(pc.list_parent_indices(column).to_numpy(zero_copy_only=False))
        mask[parents[hit]] = True
        return mask
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    if condition.op in (">=", ">", "<=", "<") and not numeric:
        raise CtxEmbedError(
            f"field {condition.field!r} does not hold numbers; compare it with = or in, not {condition.op}"
        )
    if numeric:  # compare as floats: `year>=2020.5` is a fair question of an integer field
        column, kind = pc.cast(column, pa.float64()), pa.float64()
    typed = [_typed(condition, kind, v) for v in values]
    scalar = pa.scalar(typed[0], type=kind)
    result = {
        "=": lambda: pc.equal(column, scalar),
        "!=": lambda: pc.not_equal(column, scalar),
        "in": lambda: pc.is_in(column, value_set=pa.array(typed, type=kind)),
        ">=": lambda: pc.greater_equal(column, scalar),
        ">": lambda: pc.greater(column, scalar),
        "<=": lambda: pc.less_equal(column, scalar),
        "<": lambda: pc.less(column, scalar),
    }[condition.op]()
    return np.asarray(pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=bool)


def _typed(condition: Condition, kind: Any, value: str) -> Any:
    """`value` as the field's type; a value of another type is an error that names the field."""
    import pyarrow as pa

    if pa.types.is_boolean(kind):
        if value.lower() not in ("true", "false"):
            raise CtxEmbedError(f"field {condition.field!r} holds true/false; {value!r} is neither")
        return value.lower() == "true"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        try:
            number = float(value)
        except ValueError as exc:
            raise CtxEmbedError(f"field {condition.field!r} holds numbers; {value!r} is not a number") from exc
        return number
    return value
