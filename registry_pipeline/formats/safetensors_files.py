"""safetensors weights, read from their headers only: no tensor is ever loaded.

A safetensors file starts with an 8-byte little-endian header length and a JSON header
giving each tensor's dtype, shape and byte offsets. ``safetensors.safe_open`` validates
that header (offsets inside the file, the file fully covered) and memory-maps the file;
we only ask it for names, dtypes and shapes.

Sharded weights follow the Hugging Face layout: ``<stem>.safetensors.index.json`` holds
``{"metadata": {"total_size": BYTES}, "weight_map": {tensor: shard file}}`` and each shard
is a safetensors file beside it. Every shard listed must exist and every tensor of the
index must be in the shard the index names.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from registry_pipeline.core.digests import check_relative_path
from registry_pipeline.errors import BadInput
from registry_pipeline.formats._common import json_object, read_json, relative
from registry_pipeline.inputs.documents import one_line, shown

#: Bits per element of each safetensors dtype, to compare an index's ``total_size``.
DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E4M3": 8,
    "F8_E5M2": 8,
    "F8_E8M0": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "I64": 64,
    "U64": 64,
    "F64": 64,
}
LARGEST = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Tensor:
    """One tensor as its header describes it."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        """Number of elements (1 for a scalar)."""
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True, kw_only=True)
class Weights:
    """The weights of one artifact: header facts and what looked wrong."""

    facts: dict[str, Any]
    warnings: list[str]


def read_header(path: Path, where: str) -> dict[str, Tensor]:
    """Read the tensors of one safetensors file from its header, without loading them.

    Raises:
        BadInput: the file is missing, unreadable or its header is malformed.
    """
    tensors: dict[str, Tensor] = {}
    try:
        with safe_open(str(path), framework="numpy") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open handles are not mappings
                part = handle.get_slice(name)
                shape = tuple(int(n) for n in part.get_shape())
                tensors[name] = Tensor(name=name, dtype=str(part.get_dtype()), shape=shape)
    except SafetensorError as e:
        raise BadInput(
            f"{where}: not a valid safetensors file ({one_line(e)}); re-export the weights"
        ) from None
    except FileNotFoundError:
        raise BadInput(f"{where}: file is missing") from None
    except OSError as e:
        raise BadInput(f"{where}: cannot be read ({e.strerror or e})") from None
    return tensors


def summarize(tensors: Iterable[Tensor], files: Sequence[Path]) -> dict[str, Any]:
    """Facts over a set of tensors stored in ``files``.

    ``parameter_count`` is the sum of the products of the shapes, ``dtypes`` counts tensors
    per safetensors dtype, ``largest_tensors`` lists the biggest few (name, shape, dtype),
    ``shards`` is the number of files and ``total_bytes`` their size on disk.
    """
    items = list(tensors)
    ranked = sorted(items, key=lambda t: (-t.numel, t.name))[:LARGEST]
    return {
        "parameter_count": sum(t.numel for t in items),
        "tensor_count": len(items),
        "dtypes": dict(sorted(Counter(t.dtype for t in items).items())),
        "largest_tensors": [
            {"name": t.name, "shape": list(t.shape), "dtype": t.dtype} for t in ranked
        ],
        "shards": len(files),
        "total_bytes": sum(_size(f) for f in files),
    }


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_weights(root: Path, folder: Path, stem: str) -> Weights | None:
    """Read ``<stem>.safetensors`` or the sharded ``<stem>.safetensors.index.json`` in
    ``folder``; ``None`` when neither is there. Messages name files relative to ``root``.

    As ``transformers`` does, a single file is preferred to an index when both exist.

    Raises:
        BadInput: a header is malformed, a shard is missing, or a tensor of the index is
            not in its shard.
    """
    single = folder / f"{stem}.safetensors"
    index = folder / f"{stem}.safetensors.index.json"
    if single.is_file():
        tensors = read_header(single, relative(root, single))
        warnings = []
        if index.is_file():
            warnings.append(
                f"{relative(root, index)} is ignored: {relative(root, single)} is read instead"
            )
        return Weights(facts=summarize(tensors.values(), [single]), warnings=warnings)
    if index.is_file():
        return read_sharded(root, index)
    return None


def read_files(root: Path, files: Sequence[Path]) -> Weights:
    """Facts over loose safetensors files (no index), each header validated."""
    tensors: list[Tensor] = []
    for path in files:
        tensors += read_header(path, relative(root, path)).values()
    return Weights(facts=summarize(tensors, files), warnings=[])


def read_sharded(root: Path, index: Path) -> Weights:
    """Read a sharded checkpoint from its index; see the module docstring for the checks."""
    where = relative(root, index)
    document = json_object(read_json(index, where), where)
    weight_map = document.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise BadInput(f"{where}: 'weight_map' must map each tensor name to its shard file")
    declared = _declared_total(document, where)
    by_shard: dict[str, list[str]] = {}
    for tensor, shard in weight_map.items():
        if not isinstance(shard, str):
            raise BadInput(f"{where}: tensor {shown(tensor)} maps to {shown(shard)}, not a file")
        by_shard.setdefault(shard, []).append(tensor)
    files: list[Path] = []
    tensors: list[Tensor] = []
    warnings: list[str] = []
    for shard in sorted(by_shard):
        try:
            check_relative_path(shard)
        except BadInput:
            raise BadInput(
                f"{where}: shard {shown(shard)} is not a file beside the index"
            ) from None
        path = index.parent / shard
        if not path.is_file():
            raise BadInput(
                f"{where}: lists shard {shard!r}, which is missing; add the shard or "
                "re-save the checkpoint"
            )
        header = read_header(path, relative(root, path))
        for tensor in by_shard[shard]:
            if tensor not in header:
                raise BadInput(
                    f"{where}: tensor {shown(tensor)} is not in its shard {shard!r}; "
                    "the index and the shards do not match"
                )
            tensors.append(header[tensor])
        extra = sorted(set(header) - set(by_shard[shard]))
        if extra:
            warnings.append(
                f"{relative(root, path)}: {len(extra)} tensor(s) not listed in {where} "
                f"(e.g. {extra[0]!r}) are ignored"
            )
        files.append(path)
    facts = summarize(tensors, files)
    computed = _tensor_bytes(tensors)
    if declared is not None and computed is not None and declared != computed:
        warnings.append(
            f"{where}: metadata.total_size is {declared} bytes but the tensors hold {computed}"
        )
    return Weights(facts=facts, warnings=warnings)


def _declared_total(document: dict[str, Any], where: str) -> int | None:
    metadata = document.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise BadInput(f"{where}: 'metadata' must be a JSON object")
    total = metadata.get("total_size")
    if total is None:
        return None
    if isinstance(total, bool) or not isinstance(total, int | float) or total < 0:
        raise BadInput(f"{where}: metadata.total_size must be a byte count, not {shown(total)}")
    return int(total)


def _tensor_bytes(tensors: Iterable[Tensor]) -> int | None:
    bits = 0
    for tensor in tensors:
        size = DTYPE_BITS.get(tensor.dtype)
        if size is None:
            return None
        bits += tensor.numel * size
    return (bits + 7) // 8
