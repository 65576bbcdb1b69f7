"""Names for TFDS builder configs of local folders that never go stale.

A local source is prepared once into the TFDS data directory under a config
name. The name hashes the folder's path and every file's name, size and
modification time, so distinct folders never collide and a changed file
prepares a fresh copy: MNIST and Fashion-MNIST, for instance, have files of
identical names and sizes, and swapping one for the other must not reuse the
stale prepared copy.
"""

import hashlib
import os
import re


def config_name(folder: str, entries: list[tuple[str, str]], default: str) -> str:
    """`<folder name>_<hash>` of `folder` and its `(path, tag)` entries.

    Args:
      folder: the source folder.
      entries: files with a tag that also enters the hash (e.g. their label).
      default: the name part when the folder's name has no usable characters.
    """
    digest = hashlib.sha1(os.path.abspath(folder).encode())
    for path, tag in entries:
        stat = os.stat(path)
        digest.update(f"\0{os.path.relpath(path, folder)}\0{tag}\0"
                      f"{stat.st_size}\0{stat.st_mtime_ns}".encode())
    base = re.sub(r"[^0-9a-z]+", "_",
                  os.path.basename(os.path.abspath(folder)).lower()).strip("_")
    return f"{base or default}_{digest.hexdigest()[:10]}"
