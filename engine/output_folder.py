"""Where a run may write, and how: never into its inputs, atomically, owner-only.

* ``check_paths`` refuses an ``--out`` (or ``--work``) that is, holds or sits inside an input, before
  anything is written: a run that replaced its own input folder would delete the records.
* ``atomic_folder`` builds the outputs in a hidden sibling ``.<out>.partial-<host>-<pid>`` and swaps
  it in only when the run succeeded, so a failed run leaves the last good outputs in place. It only
  ever replaces a folder that a casefind run wrote (its ``manifest.json`` says ``"engine":
  "casefind"``), and removes partial folders left by runs on this host that died (their process is
  gone): a killed run must not leave an identifiable canonical record behind for ever.
* Every folder is created 0700 and every file is made 0600: worklists name patients.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

from engine.config import ConfigError
from engine.ingest.files import is_casefind_output

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
WORK_PREFIX = "casefind-work-"


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_paths(out: Path, inputs: dict[str, Path], work: Path | None = None) -> None:
    """One-line ConfigError when ``out`` (or ``work``) overlaps an input or is not a usable folder.

    ``inputs`` maps the option name (``--input``, ``--record``) to its path.
    """
    out_r = out.resolve()
    targets = {"--out": out_r}
    if work is not None:
        targets["--work"] = work.resolve()
    for name, target in targets.items():
        for in_name, path in inputs.items():
            src = path.resolve()
            if target == src:
                raise ConfigError(f"{name} {target} is the same folder as {in_name}: a run never writes into its input")
            if _within(target, src):
                raise ConfigError(f"{name} {target} is inside {in_name} {src}: the next run would read it as input")
            if _within(src, target):
                raise ConfigError(f"{name} {target} contains {in_name} {src}: replacing it would delete the input")
        existing = next(p for p in (target, *target.parents) if p.exists())
        if not existing.is_dir():
            raise ConfigError(f"{name} {target}: {existing} is a file, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(f"{name} {target}: no permission to write in {existing}")
    if work is not None and _within(targets["--work"], out_r):
        raise ConfigError(f"--work {targets['--work']} is inside --out {out_r}: the working record must stay out of "
                          "the outputs")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead(parent: Path, pattern: re.Pattern) -> list[Path]:
    """Remove the folders in ``parent`` whose name matches ``pattern`` (group ``pid``) and whose
    process on this host is gone; on a shared file system other hosts' folders are left alone."""
    removed = []
    if not parent.is_dir():
        return removed
    for p in parent.iterdir():
        m = pattern.match(p.name)
        if m and p.is_dir() and not _alive(int(m.group("pid"))):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def remove_stale_partials(out: Path) -> list[Path]:
    """``.<out>.partial-`` / ``.old-`` folders of dead runs on this host."""
    host = re.escape(socket.gethostname())
    return _remove_dead(out.parent, re.compile(rf"^\.{re.escape(out.name)}\.(partial|old)-{host}-(?P<pid>\d+)$"))


def private_temp_folder() -> Path:
    """A new 0700 folder in the system temp folder for one run's identifiable working files; those
    of dead runs on this host are removed first."""
    host = socket.gethostname()
    _remove_dead(Path(tempfile.gettempdir()), re.compile(rf"^{WORK_PREFIX}{re.escape(host)}-(?P<pid>\d+)-"))
    return Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{host}-{os.getpid()}-"))


def make_private(root: Path) -> None:
    """Folders 0700 and files 0600 under (and including) ``root``: Spark's writers follow the umask."""
    os.chmod(root, PRIVATE_DIR)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), PRIVATE_DIR)
        for f in filenames:
            path = os.path.join(dirpath, f)
            if not os.path.islink(path):
                os.chmod(path, PRIVATE_FILE)


def private_mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)
    return path


@contextlib.contextmanager
def atomic_folder(out: Path):
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not is_casefind_output(out):
        raise ConfigError(f"output folder {out} exists and is not a casefind output; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out)
    tag = f"{socket.gethostname()}-{os.getpid()}"
    tmp = out.parent / f".{out.name}.partial-{tag}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=PRIVATE_DIR)
    os.chmod(tmp, PRIVATE_DIR)   # mkdir's mode is masked by the umask
    try:
        yield tmp
        make_private(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{tag}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)

