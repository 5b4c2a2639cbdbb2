"""File input and output with one-line errors that name the path.

* Writes are atomic: a reader sees the old file or the new one, never half.
* Every file-system failure (a missing file, a directory where a file is
  wanted, a path under a regular file, a read-only directory, a name too long)
  is a :class:`FileError`, a ``ValueError`` whose message is one line naming the
  path.
* JSON input is strict: duplicate object keys, the non-standard constants
  ``NaN`` / ``Infinity`` and integers of more than 4,300 digits are errors
  naming where they occur (a JSON path such as ``$.transitions.s0``).
* File names derived from a user-supplied name (a case's ``name``) stay inside
  the directory the user named (:func:`file_stem`, :func:`path_inside`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "FileError",
    "JSONInputError",
    "atomic_write_json",
    "atomic_write_text",
    "ensure_directory",
    "file_stem",
    "json_path",
    "parse_json_text",
    "path_inside",
    "read_json",
]

#: A name used unchanged as a file stem (else it is cleaned and hashed).
_SAFE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._-]", re.ASCII)
_KEPT_PREFIX = 80
_HASH_CHARS = 12
#: Python's limit on decimal digits converted to int (sys.int_info default).
_MAX_INT_DIGITS = 4300


class FileError(ValueError):
    """A file-system failure; the message is one line naming the path."""


class JSONInputError(ValueError):
    """Malformed or ambiguous JSON; the message names the file and the place."""


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, NotADirectoryError):
        return "a part of the path is a file, not a directory"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return exc.strerror or type(exc).__name__


def json_path(parts: Iterator[str | int] | list[str | int]) -> str:
    """A JSON path such as ``$.transitions.s0['a b'][2]`` from keys and indices
    (the notation of jsonschema's error paths)."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_]*", part):
            out += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out += f"['{escaped}']"
    return out


class _Duplicated(dict[str, Any]):
    """An object in which some key occurred more than once."""

    duplicated: list[str]


def _find_duplicate(node: Any, parts: list[str | int]) -> tuple[str, str] | None:
    if isinstance(node, _Duplicated):
        return json_path(parts), node.duplicated[0]
    if isinstance(node, dict):
        items: Iterator[tuple[str | int, Any]] = iter(node.items())
    elif isinstance(node, list):
        items = iter(enumerate(node))
    else:
        return None
    for key, value in items:
        found = _find_duplicate(value, [*parts, key])
        if found is not None:
            return found
    return None


def parse_json_text(text: str, where: str) -> Any:
    """Parse JSON strictly; errors are one-line :class:`JSONInputError` naming
    ``where`` and the place (duplicate keys, NaN/Infinity, huge integers)."""
    seen_duplicate = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal seen_duplicate
        obj = dict(items)
        if len(obj) == len(items):
            return obj
        seen_duplicate = True
        keys: set[str] = set()
        repeated: list[str] = []
        for key, _ in items:
            if key in keys:
                repeated.append(key)
            keys.add(key)
        marked = _Duplicated(obj)
        marked.duplicated = repeated
        return marked

    def constant(name: str) -> Any:
        raise JSONInputError(
            f"{where}: {name} is not JSON (write infinities as the strings "
            '"inf" / "-inf"; NaN is never an answer)'
        )

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
            raise JSONInputError(
                f"{where}: a JSON integer of {len(digits)} digits exceeds "
                f"{_MAX_INT_DIGITS} digits; write a long exact number as a string"
            )
        return int(digits)

    try:
        data = json.loads(
            text, object_pairs_hook=pairs, parse_constant=constant, parse_int=integer
        )
    except json.JSONDecodeError as exc:
        raise JSONInputError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise JSONInputError(f"{where}: JSON nested too deeply") from None
    if seen_duplicate:
        found = _find_duplicate(data, [])
        if found is not None:
            place, key = found
            raise JSONInputError(
                f"{where}: duplicate key {key!r} in the object at {place}"
            )
    return data


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Read a JSON file strictly (:func:`parse_json_text`); ``what`` names the
    file's role in messages ("case", "results")."""
    where = f"{what} {os.fspath(path)!r}"
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise FileError(f"{where}: {_reason(exc)}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONInputError(f"{where}: not UTF-8 text ({exc})") from None
    return parse_json_text(text, where)


def ensure_directory(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """Create the directory ``path`` (and its parents) if needed and check that
    files can be written in it; a failure is one :class:`FileError` line naming
    ``what`` and the path."""
    target = Path(path)
    where = f"{what} {os.fspath(path)!r}"
    try:
        if target.exists() and not target.is_dir():
            raise FileError(f"{where}: exists and is not a directory")
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FileError(f"{where}: a part of the path is a file") from None
    except OSError as exc:
        raise FileError(
            f"{where}: cannot create the directory ({_reason(exc)})"
        ) from None
    if not os.access(target, os.W_OK | os.X_OK):
        raise FileError(f"{where}: directory is not writable")
    return target


def file_stem(name: str) -> str:
    """A file stem derived from ``name`` that cannot leave its directory.

    A name of 1-100 characters from ``A-Z a-z 0-9 . _ -`` starting with a letter
    or digit is used as it is. Any other name (``../x``, ``/abs/x``, ``sub/dir``,
    ``.``, ``..``, spaces, non-ASCII, too long) becomes its first 80 characters
    with every other character replaced by ``_`` and leading ``. _ -`` removed,
    then ``-`` and the first 12 hex digits of the SHA-256 of the UTF-8 name
    (``case-`` and the digits when nothing is left), so distinct names keep
    distinct files.
    """
    if _SAFE_STEM.fullmatch(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    cleaned = _UNSAFE_CHAR.sub("_", name[:_KEPT_PREFIX]).lstrip("._-")
    return f"{cleaned or 'case'}-{digest[:_HASH_CHARS]}"


def path_inside(directory: str | os.PathLike[str], stem: str, suffix: str) -> Path:
    """``directory / (file_stem(stem) + suffix)``, checked to lie inside
    ``directory``."""
    base = Path(directory)
    path = base / f"{file_stem(stem)}{suffix}"
    if path.parent != base or path.name in ("", ".", ".."):
        raise FileError(f"{os.fspath(path)!r}: not inside {os.fspath(base)!r}")
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``;
    creates missing parent directories. Failures are one :class:`FileError`
    line naming the path; the old file, if any, is left as it was."""
    target = Path(path)
    where = f"cannot write {os.fspath(path)!r}"
    try:
        if target.is_dir():
            raise FileError(f"{where}: is a directory")
        if target.parent.exists() and not target.parent.is_dir():
            raise FileError(f"{where}: {os.fspath(target.parent)!r} is not a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name[:100]}.", suffix=".tmp", dir=target.parent
        )
    except FileExistsError:
        raise FileError(f"{where}: a part of the path is a file") from None
    except OSError as exc:
        raise FileError(f"{where}: {_reason(exc)}") from None
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FileError(f"{where}: {_reason(exc)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Serialise first (so a failure writes nothing), then write atomically."""
    text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write_text(path, text)
