"""URL blocklist: drop pages from listed domains or with banned words in their URL.

A small list ships in pipeline/resources/url_blocklist.txt; `files` adds the
user's own lists (one domain per line, `#` comments, any FileSystems path),
e.g. UT1's adult list as FineWeb did.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from urllib.parse import urlsplit

from apache_beam.io.filesystems import FileSystems

from pipeline.doc import Doc
from pipeline.filters.base import Filter

_URL_TOKEN = re.compile(r"[a-z0-9]+")
BANNED_WORDS = ("porn", "porno", "xxx", "hentai", "sexcam", "camgirls", "nsfw")


def _domains(lines) -> set[str]:
    return {line.strip().lower().removeprefix("www.") for line in lines
            if line.strip() and not line.lstrip().startswith("#")}


@dataclass
class URLBlocklist(Filter):
    name = "url_blocklist"

    files: tuple[str, ...] = ()          # extra domain lists
    use_bundled: bool = True
    banned_words: tuple[str, ...] = BANNED_WORDS  # whole tokens of the URL

    @cached_property
    def domains(self) -> frozenset[str]:
        found = set()
        if self.use_bundled:
            bundled = resources.files("pipeline") / "resources" / "url_blocklist.txt"
            found |= _domains(bundled.read_text().splitlines())
        for path in self.files:
            with FileSystems.open(path, compression_type="uncompressed") as f:
                found |= _domains(f.read().decode("utf-8", "replace").splitlines())
        return frozenset(found)

    def setup(self) -> None:
        _ = self.domains

    def filter(self, doc: Doc) -> bool | str:
        url = doc.url.lower()
        host = (urlsplit(url).hostname or "").rstrip(".")
        parts = host.split(".")
        if any(".".join(parts[i:]) in self.domains for i in range(len(parts))):
            return "blocked_domain"
        banned = set(self.banned_words)
        if banned and any(token in banned for token in _URL_TOKEN.findall(url)):
            return "banned_url_word"
        return True
