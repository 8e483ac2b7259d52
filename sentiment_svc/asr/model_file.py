"""CTranslate2's `model.bin`, read and written: named arrays (variables) and aliases.

The format is the one `ctranslate2.specs.ModelSpec` writes (binary version 6): a header,
each variable as name, shape, dtype and raw bytes, then the aliases (a tied weight names
another). Only what `vocabulary.py` needs to derive a model from another.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

SUPPORTED_VERSION = 6
# The order of CTranslate2's DataType enum.
DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class ModelFileError(ValueError):
    """model.bin is not a CTranslate2 model file this code can read."""


@dataclass
class Variable:
    shape: tuple[int, ...]
    dtype: str
    data: bytes

    def array(self) -> np.ndarray:
        if self.dtype == "bfloat16":
            raise ModelFileError("bfloat16 variables are not supported")
        return np.frombuffer(self.data, dtype=self.dtype).reshape(self.shape)

    @classmethod
    def of(cls, array: np.ndarray) -> Variable:
        return cls(tuple(array.shape), array.dtype.name, np.ascontiguousarray(array).tobytes())


@dataclass
class ModelFile:
    spec: str
    revision: int
    variables: dict[str, Variable] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> variable name

    @classmethod
    def read(cls, path: Path) -> ModelFile:
        with path.open("rb") as handle:
            version = _unpack(handle, "I")
            if version != SUPPORTED_VERSION:
                raise ModelFileError(
                    f"{path}: binary version {version}, only {SUPPORTED_VERSION} is supported"
                )
            model = cls(_read_string(handle), _unpack(handle, "I"))
            for _ in range(_unpack(handle, "I")):
                name = _read_string(handle)
                shape = tuple(_unpack(handle, "I") for _ in range(_unpack(handle, "B")))
                dtype = DTYPES[_unpack(handle, "B")]
                size = _unpack(handle, "I")
                data = handle.read(size)
                if len(data) != size:
                    raise ModelFileError(f"{path}: truncated in variable {name}")
                model.variables[name] = Variable(shape, dtype, data)
            for _ in range(_unpack(handle, "I")):
                alias = _read_string(handle)
                model.aliases[alias] = _read_string(handle)
        return model

    def write(self, path: Path) -> None:
        with path.open("wb") as handle:
            handle.write(struct.pack("I", SUPPORTED_VERSION))
            _write_string(handle, self.spec)
            handle.write(struct.pack("I", self.revision))
            handle.write(struct.pack("I", len(self.variables)))
            for name, variable in self.variables.items():
                _write_string(handle, name)
                handle.write(struct.pack("B", len(variable.shape)))
                for dim in variable.shape:
                    handle.write(struct.pack("I", dim))
                handle.write(struct.pack("B", DTYPES.index(variable.dtype)))
                handle.write(struct.pack("I", len(variable.data)))
                handle.write(variable.data)
            handle.write(struct.pack("I", len(self.aliases)))
            for alias, name in self.aliases.items():
                _write_string(handle, alias)
                _write_string(handle, name)


def _unpack(handle: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise ModelFileError("model.bin ends early")
    return struct.unpack(fmt, data)[0]


def _read_string(handle: BinaryIO) -> str:
    length = _unpack(handle, "H")  # including the terminating NUL
    return handle.read(length)[:-1].decode("utf-8")


def _write_string(handle: BinaryIO, text: str) -> None:
    encoded = text.encode("utf-8")
    handle.write(struct.pack("H", len(encoded) + 1))
    handle.write(encoded + b"\0")
