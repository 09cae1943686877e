"""Safe outputs: atomic files and folders, run-folder manifests, and the rules for an existing ``--out``.

Guarantees (docs/data.md, "Bad input", states them to users):

* featureproof never deletes or overwrites a file it did not write. Every output folder carries a
  manifest, ``featureproof.json``, listing the files featureproof wrote there (with sizes and SHA-256).
* An existing ``--out`` folder is used only if it is empty, or if it is a featureproof folder holding
  nothing but its listed files *and* ``--overwrite`` was given. Anything else stops with one line,
  before any work (:func:`claim_dir`), and is checked again just before the new folder is published.
* Outputs are written into a hidden temporary sibling (``.NAME.fp-HOST-PID-RAND.tmp``) and published by
  an atomic rename; an existing folder is swapped with the new one in one ``renameat2(RENAME_EXCHANGE)``
  where the kernel offers it (Linux), else by two renames whose gap is repaired on the next run. So an
  interrupted run (Ctrl-C, SIGTERM, SIGKILL) leaves the old folder or the new one, never a mix, and never
  a half-written file under a real name. Temporary siblings of dead processes are swept by the next write.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pandas as pd

from pipeline.errors import InputError

MANIFEST = "featureproof.json"
_HOST = re.sub(r"[^A-Za-z0-9]+", "", socket.gethostname())[:20] or "host"
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.fp-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[A-Za-z0-9_]+\.(?:tmp|old)$")


def _tmp_prefix(name: str) -> str:
    return f".{name}.fp-{_HOST}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(folder: str | Path) -> None:
    """Remove temporary siblings left in ``folder`` by featureproof processes of this host that died
    (SIGKILL, power loss); put back a folder whose replacement was interrupted between two renames."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        m = _TMP_RE.match(entry.name)
        if not m or m["host"] != _HOST or _pid_alive(int(m["pid"])):
            continue
        target = folder / m["name"]
        if entry.name.endswith(".old") and not target.exists():
            os.rename(entry, target)  # the old folder had been moved aside; the new one never arrived
        elif entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest of a featureproof folder, or None if ``folder`` has none (or an unreadable one)."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None


def write_manifest(folder: Path, kind: str, publication: str | None = None) -> dict:
    """List every file in ``folder`` (size and SHA-256) in ``folder/featureproof.json``; ``publication``: a
    token naming this write (the ledger's pending entries count once a folder carrying their token exists)."""
    from pipeline import __version__

    files = {
        name: {"bytes": (folder / name).stat().st_size, "sha256": _sha256(folder / name)}
        for name in _files(folder)
        if name != MANIFEST
    }
    manifest = {
        "featureproof": __version__,
        "kind": kind,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files,
    }
    if publication:
        manifest["publication"] = publication
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def claim_dir(path: str | Path, overwrite: bool, flag: str = "--out") -> None:
    """Check that ``path`` may receive a featureproof folder, before any work is done.

    Allowed: a missing or empty folder; a featureproof folder holding only its listed files, with
    ``overwrite``. Anything else raises :class:`InputError` with one line saying what to do."""
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise InputError(f"{flag} {path}: is a broken symbolic link; choose another folder")
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
            raise InputError(
                f"{flag} {path}: cannot create it, {ancestor} is not a writable folder; choose another place"
            )
        return
    if path.is_dir() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: its folder {path.parent} is not writable; choose another place")
    if not path.is_dir():
        raise InputError(f"{flag} {path}: is a file, not a folder; choose a folder name")
    present = _files(path)
    if not present and not any(path.iterdir()):
        return
    manifest = read_manifest(path)
    if manifest is None:
        shown = ", ".join(present[:3]) or ", ".join(p.name for p in list(path.iterdir())[:3])
        raise InputError(
            f"{flag} {path}: the folder exists and was not written by featureproof (it holds {shown}"
            f"{', ...' if len(present) > 3 else ''}); featureproof never writes into such a folder: "
            "choose a new or empty folder"
        )
    foreign = [f for f in present if f != MANIFEST and f not in manifest["files"]]
    if foreign:
        raise InputError(
            f"{flag} {path}: this featureproof folder also holds files featureproof did not write "
            f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); move them away or choose "
            "another folder"
        )
    if not overwrite:
        raise InputError(
            f"{flag} {path}: already holds a featureproof {manifest.get('kind', 'run')} folder; pass "
            "--overwrite to replace it, or choose another folder"
        )


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with ``renameat2(RENAME_EXCHANGE)``; False where unsupported."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def publish_dir(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished folder ``tmp`` to ``path``, replacing an existing featureproof folder there only
    with ``overwrite`` (checked again now: the folder may have changed while we worked)."""
    try:
        claim_dir(path, overwrite)
    except InputError as exc:
        kept = path.parent / f"{path.name}.new-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        os.rename(tmp, kept)
        raise InputError(f"{exc}. The new results are in {kept}") from None
    if not path.exists():
        os.rename(tmp, path)  # atomic; replaces nothing but an empty folder created meanwhile
        return
    if not any(path.iterdir()):
        path.rmdir()
        os.rename(tmp, path)
        return
    if _exchange(tmp, path):
        shutil.rmtree(tmp)  # now holds the old folder: only files featureproof wrote (checked above)
        return
    aside = path.parent / f"{_tmp_prefix(path.name)}{os.urandom(4).hex()}.old"
    os.rename(path, aside)
    os.rename(tmp, path)
    shutil.rmtree(aside)


@contextmanager
def atomic_dir(
    path: str | Path, kind: str = "run", overwrite: bool = False, publication: str | None = None
) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; when the block succeeds, write its manifest (with the
    ``publication`` token) and publish it as ``path`` (see :func:`publish_dir`). On failure or interruption
    nothing is published."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path.name), suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        for child in tmp.rglob("*"):
            os.chmod(child, 0o755 if child.is_dir() else 0o644)
        write_manifest(tmp, kind, publication)
        publish_dir(tmp, path, overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def update_dir(path: str | Path) -> Iterator[Path]:
    """Change a finished featureproof folder all at once: yield a copy of it to edit; the copy replaces
    the folder (with a fresh manifest) only when the block succeeds."""
    path = Path(path)
    manifest = read_manifest(path)
    if manifest is None:
        raise InputError(
            f"{path}: not a featureproof folder (no {MANIFEST}); featureproof only changes folders it wrote"
        )
    claim_dir(path, overwrite=True, flag="folder")
    with atomic_dir(path, manifest.get("kind", "run"), overwrite=True) as tmp:
        for name in manifest["files"]:
            if not (path / name).is_file():
                continue  # deleted by the user since: nothing to carry over
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path / name, tmp / name)
        yield tmp


def fresh_dir(root: Path, label: str, stamp: bool = True) -> Path:
    """``root/<YYYYmmdd-HHMMSS>-<label>`` (``root/<label>`` without ``stamp``), with a ``-2``, ``-3``, ...
    suffix if that name is taken."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S") + "-" if stamp else ""
    path, n = root / f"{stamp}{label}", 2
    while path.exists():
        path, n = root / f"{stamp}{label}-{n}", n + 1
    return path


def write_table(frame: pd.DataFrame, path: str | Path, overwrite: bool = False) -> None:
    """Write ``frame`` as CSV or parquet, chosen by the extension, atomically. An existing file is replaced
    only with ``overwrite``."""
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    if suffix not in {".csv", ".csv.gz", ".parquet"}:
        raise InputError(f"{path}: unknown output type {suffix or '(none)'!r}; use .csv, .csv.gz or .parquet")
    check_file_out(path, overwrite)
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            frame.to_parquet(tmp)
        else:
            frame.to_csv(tmp, compression="gzip" if suffix == ".csv.gz" else None)


def check_file_out(path: str | Path, overwrite: bool) -> None:
    """An output file may replace an existing file only with ``overwrite`` (never a folder)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--out {path}: is a folder; give a file name ending in .csv, .csv.gz or .parquet")
    if path.exists() and not overwrite:
        raise InputError(f"--out {path}: the file exists; pass --overwrite to replace it, or choose another name")
