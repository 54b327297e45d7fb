"""Writing outputs so that a reader never sees them half-written, and never over a user's files.

Files are written under a temporary sibling name and renamed; directories are built under
a temporary sibling and swapped in whole (an existing one is removed only afterwards).
Before a verb writes, :func:`check_output_dir` / :func:`check_output_file` decide whether the
path may be replaced: only an earlier output of the same verb (recognised by its marker file),
another recsys verb's output with ``--overwrite``, and never a regular file or a directory
that holds anything else.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

from recsys.errors import OutputError

OUTPUT_MARKERS: dict[str, str] = {
    "prepare": "dataset.json",
    "train": "config.json",
    "export": "manifest.json",
    "rank": "feature_singles.tsv",
    "experiment": "study.json",
}
"""The file that marks a directory as the output of each verb that writes one."""


def output_verb(path: Path) -> Optional[str]:
    """The verb whose output directory ``path`` is (by its marker file), else None."""
    return next((verb for verb, marker in OUTPUT_MARKERS.items() if (path / marker).is_file()), None)


def check_output_dir(path: Path, verb: str, overwrite: bool = False) -> None:
    """Refuse (:class:`OutputError`) to write ``verb``'s output directory at ``path`` unless it is
    absent, empty or an earlier output of ``verb`` (or of another verb, with ``overwrite``)."""
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory; refusing to replace it (choose another --out)")
    if not any(path.iterdir()):
        return
    owner = output_verb(path)
    if owner == verb:
        return
    if owner is None:
        raise OutputError(f"{path}: holds files that are not a recsys {verb} output; refusing to replace them "
                          "(choose another --out)")
    if not overwrite:
        raise OutputError(f"{path}: holds a recsys {owner} output; pass --overwrite to replace it with a {verb} output")


def check_output_file(path: Path, verb: str, ours: Callable[[Path], bool]) -> None:
    """Refuse to write ``verb``'s output file at ``path`` unless it is absent or ``ours(path)``
    says it is an earlier output of ``verb``."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; {verb} writes one file (choose another --out)")
    if not ours(path):
        raise OutputError(f"{path}: exists and is not an earlier recsys {verb} output; refusing to replace it "
                          "(choose another --out)")


def write_file_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)`` to a hidden sibling of ``path``, then rename it to ``path``; on an error the
    partial file is removed and ``path`` is untouched."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary sibling and a rename."""
    write_file_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: Path, data: Any, indent: int | None = 1) -> None:
    write_text_atomic(path, json.dumps(data, indent=indent))


def temp_dir_for(out: Path) -> Path:
    """A fresh, empty temporary sibling of ``out`` (``.NAME.tmp-PID``) to build it in."""
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def replace_dir(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` to ``out``; an existing ``out`` is removed only after."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
