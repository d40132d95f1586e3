"""The job reads and writes only through Beam's FileSystems, as on gs:// or s3://.

`remote://` is a FileSystems scheme whose files live in a folder the job is
never told about: code that bypasses FileSystems (pathlib, open()) cannot find
its inputs there and writes its outputs somewhere else (here: the working
directory, which must stay empty).
"""
import json
import os
import shutil
from pathlib import Path

import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

import cc2gpt

WARC_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "warc"
SUBSET = ("cc-main-2020-34_sample", "dolma_wget_sample-0000")
SCHEME = "remote://"


class RemoteFileSystem(LocalFileSystem):
    """remote://PATH is `root`/PATH; paths are handed out in remote:// form only."""
    root: Path = Path("/nonexistent")

    @classmethod
    def scheme(cls):
        return "remote"

    @classmethod
    def local(cls, path: str) -> str:
        assert path.startswith(SCHEME), path
        return str(cls.root / path.removeprefix(SCHEME))

    def join(self, base, *paths):
        return "/".join([base.rstrip("/")] + [p.strip("/") for p in paths])

    def split(self, path):
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def has_dirs(self):
        return False   # like gs:// and s3://: a listing is by prefix

    def _url_dirname(self, url):
        return self.split(url)[0]

    def _list(self, prefix):
        start = self.local(prefix)
        for folder, _, files in os.walk(start if os.path.isdir(start) else os.path.dirname(start)):
            for name in files:
                path = os.path.join(folder, name)
                if path.startswith(start):
                    remote = SCHEME + os.path.relpath(path, self.root)
                    yield FileMetadata(remote, os.path.getsize(path), os.path.getmtime(path))

    def mkdirs(self, path):
        return super().mkdirs(self.local(path))

    def create(self, path, *args, **kwargs):
        os.makedirs(os.path.dirname(self.local(path)), exist_ok=True)
        return super().create(self.local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self.local(path), *args, **kwargs)

    def copy(self, sources, destinations):
        return super().copy([self.local(p) for p in sources], [self.local(p) for p in destinations])

    def rename(self, sources, destinations):
        for p in destinations:
            os.makedirs(os.path.dirname(self.local(p)), exist_ok=True)
        return super().rename([self.local(p) for p in sources], [self.local(p) for p in destinations])

    def exists(self, path):
        return super().exists(self.local(path))

    def size(self, path):
        return super().size(self.local(path))

    def last_updated(self, path):
        return super().last_updated(self.local(path))

    def checksum(self, path):
        return super().checksum(self.local(path))

    def metadata(self, path):
        found = super().metadata(self.local(path))
        return FileMetadata(path, found.size_in_bytes, found.last_updated_in_seconds)

    def delete(self, paths):
        for p in paths:   # objects by name (LocalFileSystem.delete would match local paths as remote ones)
            os.remove(self.local(p))


def test_job_uses_only_filesystems(tmp_path, monkeypatch):
    RemoteFileSystem.root = tmp_path / "bucket"
    (RemoteFileSystem.root / "warc").mkdir(parents=True)
    for name in SUBSET:
        shutil.copy(WARC_DIR / f"{name}.warc.gz", RemoteFileSystem.root / "warc")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)   # where relative writes that bypass FileSystems would land
    assert cc2gpt.main(["curate", "--input", "remote://warc/*.warc.gz", "--output", "remote://out",
                        "--vocab-size", "512", "--val-fraction", "0.2", "--shard-tokens", "5000",
                        "--direct_running_mode=in_memory"]) == 0   # in-process: the scheme is registered
    out = RemoteFileSystem.root / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    shards = [f["path"] for split in manifest["splits"].values() for f in split["files"]]
    assert shards and all((out / path).is_file() for path in shards)
    assert list(out.glob("documents/*.parquet")) and (out / "tokenizer" / "tokenizer.model").is_file()
    assert not list(cwd.iterdir())
