"""Write one Parquet file so that a reader sees all of it or nothing, even across a crash.

On a local disk the file is written under a hidden temporary name, fsynced, renamed into place and its
folder fsynced, so after power loss or SIGKILL the name points at complete bytes (or is absent). A failed
write removes its temporary file. Object stores (S3, GCS) publish an object only when its upload
completes, so there the file is written under its final name directly (a rename there is a copy).

    path = write_parquet(fs, f"{root}/date=2026-11-26/model=m", part_file_name(), table)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from gateway.logcontract.layout import tmp_name

__all__ = ["ROW_GROUP_ROWS", "fsync_dir", "is_local", "parquet_sink", "write_parquet"]

# Row groups of this many rows keep statistics useful for time pruning and a batch in memory small.
ROW_GROUP_ROWS = 128 * 1024


def is_local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


def fsync_dir(path: str) -> None:
    """Make a rename or unlink in `path` durable (POSIX: the folder's entry lives in the folder)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs_durably(directory: str) -> None:
    """Create missing folders and fsync each new folder's parent, so the new entries survive a crash."""
    missing: list[str] = []
    d = os.path.abspath(directory)
    while not os.path.isdir(d):
        missing.append(d)
        d = os.path.dirname(d)
    os.makedirs(directory, exist_ok=True)
    for created in reversed(missing):
        fsync_dir(os.path.dirname(created))


def write_parquet(
    fs: pafs.FileSystem,
    directory: str,
    name: str,
    table: pa.Table,
    *,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> str:
    """Write `table` as `<directory>/<name>` atomically; return the final path."""
    final = f"{directory.rstrip('/')}/{name}"
    if not is_local(fs):
        # Serialise first, upload in one piece: a failure before the upload completes publishes nothing.
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf, compression="zstd", row_group_size=row_group_rows)
        fs.create_dir(directory, recursive=True)
        with fs.open_output_stream(final) as out:
            out.write(buf.getvalue())
        return final
    _make_dirs_durably(directory)
    tmp = f"{directory.rstrip('/')}/{tmp_name(name)}"
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, compression="zstd", row_group_size=row_group_rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)
    return final


@contextlib.contextmanager
def parquet_sink(
    fs: pafs.FileSystem, directory: str, name: str, schema: pa.Schema
) -> Iterator[pq.ParquetWriter]:
    """A streaming writer of `<directory>/<name>` that publishes the file only when the block succeeds.

    For files too big to build in memory (compaction). The bytes go to a hidden temporary name; on
    success they are fsynced (local disks) and moved to `name` (on object stores a server-side copy,
    which publishes the complete object at once); on failure the temporary file is removed.
    """
    directory = directory.rstrip("/")
    tmp, final = f"{directory}/{tmp_name(name)}", f"{directory}/{name}"
    if is_local(fs):
        _make_dirs_durably(directory)
    else:
        fs.create_dir(directory, recursive=True)
    try:
        if is_local(fs):
            with open(tmp, "wb") as fh:
                with pq.ParquetWriter(fh, schema, compression="zstd") as writer:
                    yield writer
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            fsync_dir(directory)
        else:
            with (
                fs.open_output_stream(tmp) as out,
                pq.ParquetWriter(out, schema, compression="zstd") as writer,
            ):
                yield writer
            fs.move(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            fs.delete_file(tmp)
        raise
