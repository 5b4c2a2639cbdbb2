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
  the directory the user named (:func:`file_stem`, :func:`path_inside`); a name
  given on the command line as a file stem (``--name``) must be a plain stem
  (:func:`plain_stem`).
* Every reader refuses, before reading a byte, a path that is not a regular file
  (a FIFO, a character or block device, a socket, a directory) and a file over
  its size limit (:data:`MAX_JSON_BYTES` for JSON, :data:`MAX_INPUT_BYTES` for
  other input; stated in docs/case-format.md, "Limits"); JSON nested deeper than
  :data:`MAX_JSON_DEPTH` is refused, so no later pass recurses without bound.
  ``.npz`` archives are checked from their zip and ``.npy`` headers before any
  array is decompressed (:func:`read_npz`).
* Every writer refuses an existing target that is not a regular file (so
  ``--out /dev/null`` never replaces a device node) and writes through a
  temporary file beside the target (:func:`atomic_write_with`).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_ARRAY_BYTES",
    "MAX_INPUT_BYTES",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_NPZ_MEMBERS",
    "FileError",
    "JSONInputError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_write_with",
    "check_input_file",
    "check_output_target",
    "ensure_directory",
    "file_stem",
    "json_path",
    "parse_json_text",
    "path_inside",
    "plain_stem",
    "read_bytes",
    "read_json",
    "read_npz",
    "read_text",
]

#: A name used unchanged as a file stem (else it is cleaned and hashed).
_SAFE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._-]", re.ASCII)
_KEPT_PREFIX = 80
_HASH_CHARS = 12
#: Python's limit on decimal digits converted to int (sys.int_info default).
_MAX_INT_DIGITS = 4300
#: Largest JSON file read (cases, results, symbolic cases, saved policies,
#: tables): parsed JSON takes about 20 times its size in memory.
MAX_JSON_BYTES = 64 * 2**20
#: Deepest JSON nesting read (the formats nest at most 10 deep).
MAX_JSON_DEPTH = 32
#: Most arrays an ``.npz`` file may hold (BRIDGE files hold six).
MAX_NPZ_MEMBERS = 256
#: Largest other input file read whole (``.npz`` archives, text).
MAX_INPUT_BYTES = 256 * 2**20
#: Largest total of the arrays of one ``.npz`` archive, from its headers.
MAX_ARRAY_BYTES = 256 * 2**20


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


def _depth(data: Any) -> int:
    """The nesting depth of parsed JSON (a scalar: 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


def parse_json_text(text: str, where: str) -> Any:
    """Parse JSON strictly; errors are one-line :class:`JSONInputError` naming
    ``where`` and the place (duplicate keys, NaN/Infinity, huge integers,
    nesting deeper than :data:`MAX_JSON_DEPTH`)."""
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
    depth = _depth(data)
    if depth > MAX_JSON_DEPTH:
        raise JSONInputError(
            f"{where}: JSON nested {depth} deep exceeds the limit of "
            f"{MAX_JSON_DEPTH} levels"
        )
    if seen_duplicate:
        found = _find_duplicate(data, [])
        if found is not None:
            place, key = found
            raise JSONInputError(
                f"{where}: duplicate key {key!r} in the object at {place}"
            )
    return data


def _size(n: int) -> str:
    """``n`` bytes in binary units (``64 MiB``)."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.3g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "is a FIFO, not a regular file"
    if stat.S_ISCHR(mode):
        return "is a character device, not a regular file"
    if stat.S_ISBLK(mode):
        return "is a block device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def check_input_file(
    path: str | os.PathLike[str], what: str, max_bytes: int = MAX_INPUT_BYTES
) -> int:
    """The size of the regular file ``path``; a :class:`FileError` naming
    ``what`` and the path, before anything is opened, when it is missing, not a
    regular file, or larger than ``max_bytes``."""
    where = f"{what} {os.fspath(path)!r}"
    try:
        info = os.stat(path)
    except OSError as exc:
        raise FileError(f"{where}: {_reason(exc)}") from None
    except ValueError:  # an embedded NUL byte
        raise FileError(f"{where}: not a valid path") from None
    if not stat.S_ISREG(info.st_mode):
        raise FileError(f"{where}: {_kind(info.st_mode)}")
    if info.st_size > max_bytes:
        raise FileError(
            f"{where}: {_size(info.st_size)} exceeds the input limit of "
            f"{_size(max_bytes)}"
        )
    return info.st_size


def read_bytes(
    path: str | os.PathLike[str], what: str, max_bytes: int = MAX_INPUT_BYTES
) -> bytes:
    """The contents of the regular file ``path`` (:func:`check_input_file`);
    opened without blocking and checked again on the open descriptor, and never
    more than ``max_bytes`` read."""
    where = f"{what} {os.fspath(path)!r}"
    check_input_file(path, what, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileError(f"{where}: {_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileError(f"{where}: {_kind(info.st_mode)}")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise FileError(
                    f"{where}: exceeds the input limit of {_size(max_bytes)}"
                )
    except OSError as exc:
        raise FileError(f"{where}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_text(
    path: str | os.PathLike[str], what: str, max_bytes: int = MAX_INPUT_BYTES
) -> str:
    """The UTF-8 text of the regular file ``path`` (:func:`read_bytes`)."""
    raw = read_bytes(path, what, max_bytes)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONInputError(
            f"{what} {os.fspath(path)!r}: not UTF-8 text ({exc})"
        ) from None


def read_json(
    path: str | os.PathLike[str], what: str, max_bytes: int = MAX_JSON_BYTES
) -> Any:
    """Read a JSON file strictly (:func:`parse_json_text`); ``what`` names the
    file's role in messages ("case", "results"). Non-regular files and files
    over ``max_bytes`` are refused before reading (:func:`read_bytes`)."""
    where = f"{what} {os.fspath(path)!r}"
    text = read_text(path, what, max_bytes)
    return parse_json_text(text, where)


def read_npz(
    path: str | os.PathLike[str],
    what: str,
    *,
    max_bytes: int = MAX_INPUT_BYTES,
    max_array_bytes: int = MAX_ARRAY_BYTES,
    data: bytes | None = None,
) -> dict[str, Any]:
    """The arrays of an ``.npz`` archive by name (no pickles).

    The file is read whole (:func:`read_bytes`); then, before any array is
    decompressed, every member's uncompressed size in the zip directory and the
    shape and dtype in its ``.npy`` header are checked: the header's size must
    match the member's, no dtype may hold Python objects, and the arrays
    together must not exceed ``max_array_bytes``. Any failure is one
    :class:`FileError` line naming the file. ``data``: the file's bytes when
    already read (:func:`read_bytes`).
    """
    import numpy as np

    where = f"{what} {os.fspath(path)!r}"
    raw = read_bytes(path, what, max_bytes) if data is None else data
    fmt: Any = np.lib.format
    arrays: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = archive.infolist()
            if len(members) > MAX_NPZ_MEMBERS:
                raise FileError(
                    f"{where}: {len(members)} arrays, over the limit of "
                    f"{MAX_NPZ_MEMBERS}"
                )
            total = sum(info.file_size for info in members)
            if total > max_array_bytes:
                raise FileError(
                    f"{where}: its arrays would take {_size(total)} uncompressed, "
                    f"over the limit of {_size(max_array_bytes)}"
                )
            for info in members:
                name = info.filename.removesuffix(".npy")
                with archive.open(info) as member:
                    version = fmt.read_magic(member)
                    if version == (1, 0):
                        read_header = fmt.read_array_header_1_0
                    elif version == (2, 0):
                        read_header = fmt.read_array_header_2_0
                    else:
                        raise ValueError(f"unsupported .npy version {version}")
                    shape, _, dtype = read_header(member, max_header_size=10_000)
                    header = member.tell()
                if dtype.hasobject:
                    raise FileError(f"{where}: array {name!r} holds Python objects")
                count = 1
                for n in shape:
                    count *= int(n)
                need = count * dtype.itemsize
                if need != info.file_size - header:
                    raise FileError(
                        f"{where}: array {name!r}: its header claims shape "
                        f"{tuple(shape)} of {dtype} ({_size(need)}), but the "
                        f"archive holds {_size(max(info.file_size - header, 0))}"
                    )
            with np.load(io.BytesIO(raw), allow_pickle=False) as archive_data:
                for name in archive_data.files:
                    arrays[name] = np.asarray(archive_data[name])
    except FileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise FileError(f"{where}: not a readable .npz file ({text})") from None
    return arrays


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


def plain_stem(name: str, what: str = "--name") -> str:
    """``name`` itself when it is a plain file stem (1-100 characters of
    ``A-Z a-z 0-9 . _ -``, starting with a letter or digit: the names
    :func:`file_stem` keeps); otherwise a one-line :class:`FileError` naming
    ``what``, so a stem given on the command line never leaves its directory."""
    if _SAFE_STEM.fullmatch(name) and name not in (".", ".."):
        return name
    raise FileError(
        f"{what} {name!r}: expected a plain file name of 1-100 characters "
        "A-Z a-z 0-9 . _ - starting with a letter or digit"
    )


def path_inside(directory: str | os.PathLike[str], stem: str, suffix: str) -> Path:
    """``directory / (file_stem(stem) + suffix)``, checked to lie inside
    ``directory``."""
    base = Path(directory)
    path = base / f"{file_stem(stem)}{suffix}"
    if path.parent != base or path.name in ("", ".", ".."):
        raise FileError(f"{os.fspath(path)!r}: not inside {os.fspath(base)!r}")
    return path


def check_output_target(
    path: str | os.PathLike[str], what: str = "cannot write"
) -> None:
    """Refuse (one :class:`FileError` line) an existing ``path`` that is not a
    regular file, or a symbolic link to one that is not: replacing a device
    node, a FIFO or a socket with a regular file is never what was asked."""
    where = f"{what} {os.fspath(path)!r}"
    for follow in (False, True):
        try:
            info = os.stat(path, follow_symlinks=follow)
        except FileNotFoundError:
            return
        except OSError:
            return  # reported by the write itself
        except ValueError:
            raise FileError(f"{where}: not a valid path") from None
        if stat.S_ISLNK(info.st_mode):
            continue
        if not stat.S_ISREG(info.st_mode):
            raise FileError(f"{where}: {_kind(info.st_mode)}; refusing to replace it")


def atomic_write_with(
    path: str | os.PathLike[str], write: Callable[[str], None]
) -> None:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file beside
    it, which then replaces ``path`` (:func:`os.replace`). Missing parent
    directories are created; an existing target that is not a regular file is
    refused first (:func:`check_output_target`). Failures are one
    :class:`FileError` line naming the path; the old file, if any, is left as
    it was."""
    target = Path(path)
    where = f"cannot write {os.fspath(path)!r}"
    try:
        if target.is_dir():
            raise FileError(f"{where}: is a directory")
        check_output_target(target)
        if target.parent.exists() and not target.parent.is_dir():
            raise FileError(f"{where}: {os.fspath(target.parent)!r} is not a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name[:100]}.", suffix=".tmp", dir=target.parent
        )
        os.close(fd)
    except FileExistsError:
        raise FileError(f"{where}: a part of the path is a file") from None
    except OSError as exc:
        raise FileError(f"{where}: {_reason(exc)}") from None
    except ValueError as exc:
        if isinstance(exc, FileError):
            raise
        raise FileError(f"{where}: not a valid path") from None
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        # checked again just before the replace: a node made meanwhile stays
        check_output_target(target)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FileError(f"{where}: {_reason(exc)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write_with`)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    atomic_write_with(path, write)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically
    (:func:`atomic_write_with`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Serialise first (so a failure writes nothing), then write atomically."""
    text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write_text(path, text)
