"""The extraction child process: HTML bytes in, main text out, one page at a time.

`BoundedExtractor` (parent side) starts `python -m pipeline.extract_worker`
with its own memory cap and waits at most `timeout_s` per page; a page that
hangs or crashes the child is killed with it and reported, and the next page
gets a fresh child. It is a plain subprocess, not multiprocessing: it works
from any thread of any parent (SIGALRM does not), never re-imports the
parent's __main__, and starts without Beam (this module must not import it).
"""
from __future__ import annotations

import codecs
import importlib
import json
import os
import re
import resource
import subprocess
import sys
from multiprocessing import Pipe
from multiprocessing.connection import Connection

BACKENDS = {"trafilatura": "cc2gpt.pipeline.extract_worker:trafilatura_text",
            "resiliparse": "cc2gpt.pipeline.extract_worker:resiliparse_text"}
STARTUP_TIMEOUT_S = 120.0  # a fresh child's imports; not charged to any page
WARM_UP = "<html><body><p>A page that loads the extractor's modules.</p></body></html>"

# ---- charset -------------------------------------------------------------

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([\w.:-]+)", re.I)
# Browsers read these labels as windows-1252 (the WHATWG Encoding standard),
# and pages so labelled rely on it: curly quotes and dashes in 0x80-0x9F.
_READ_AS_WINDOWS_1252 = {"iso8859-1", "ascii"}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _codec(name) -> str | None:
    """A Python codec name for a declared charset, or None if unknown."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "ignore")
    try:
        return codecs.lookup(name).name if name else None
    except LookupError:
        return None


def decode_html(html: bytes, content_type: str = "") -> str:
    """Bytes -> str: BOM, then valid UTF-8, then the HTTP header's charset, then
    the <meta> charset (latin-1 and ascii labels read as windows-1252, as
    browsers do), then charset detection.

    Valid UTF-8 comes before declarations because mislabelled UTF-8 (a
    latin-1 header on a UTF-8 page) is common, while non-ASCII text in other
    encodings almost never happens to be valid UTF-8.
    """
    for bom, name in _BOMS:
        if html.startswith(bom):
            return html.decode(name, "replace")
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        pass
    header = _HEADER_CHARSET.search(content_type or "")
    meta = _META_CHARSET.search(html[:8192])
    for declared in (header and header.group(1), meta and meta.group(1)):
        codec = _codec(declared)
        codec = "cp1252" if codec in _READ_AS_WINDOWS_1252 else codec
        if codec and codec != "utf-8":
            try:
                return html.decode(codec)
            except UnicodeDecodeError:
                pass
    from charset_normalizer import from_bytes
    best = from_bytes(html[:65536]).best()
    return html.decode(best.encoding if best else "utf-8", "replace")


# ---- extractors: (html str, url, options) -> text or None ----------------

def trafilatura_text(html: str, url: str, options: dict) -> str | None:
    import trafilatura
    return trafilatura.extract(
        html, url=url or None, deduplicate=False, with_metadata=False,
        favor_precision=options.get("favor_precision", True),
        include_comments=options.get("include_comments", False))


def resiliparse_text(html: str, url: str, options: dict) -> str | None:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree
    return extract_plain_text(HTMLTree.parse(html), main_content=True, alt_texts=False,
                              links=False, comments=options.get("include_comments", False))


def _load(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


# ---- child side ----------------------------------------------------------

def serve(fd: int, spec: str, options: dict) -> None:
    """Answer (html bytes, content_type, url) with ("ok", text) or ("error", reason)."""
    limit = int(options.get("max_memory_mb", 4096)) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn, extract = Connection(fd), _load(spec)
    extract(WARM_UP, "", options)
    conn.send(("ready", None))
    while True:
        try:
            html, content_type, url = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", extract(decode_html(html, content_type), url, options)))
        except MemoryError:
            conn.send(("error", "extract_memory"))
        except Exception:  # a broken page must not end the child
            conn.send(("error", "extract_error"))


# ---- parent side ---------------------------------------------------------

class ExtractFailed(Exception):
    """Extraction gave no text; the message is the reject reason."""


class BoundedExtractor:
    """Extract pages in a child process, at most `timeout_s` seconds each.

    `spec` is "module:function" (default: the backend's); `options` go to it
    and hold `max_memory_mb`, the child's address-space cap.
    """

    def __init__(self, backend: str = "trafilatura", timeout_s: float = 30.0,
                 options: dict | None = None, spec: str | None = None):
        self.spec = spec or BACKENDS[backend]
        self.timeout_s = timeout_s
        self.options = dict(options or {})
        self.proc = self.conn = None

    def start(self):
        self.conn, child = Pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p or os.getcwd() for p in sys.path))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cc2gpt.pipeline.extract_worker", str(child.fileno()), self.spec,
             json.dumps(self.options)], pass_fds=[child.fileno()], env=env)
        child.close()
        try:  # a child that cannot start is a broken setup, not a bad page: fail loudly
            if not self.conn.poll(STARTUP_TIMEOUT_S):
                raise TimeoutError(f"not ready after {STARTUP_TIMEOUT_S:.0f} s")
            self.conn.recv()  # "ready"
        except (EOFError, OSError) as e:
            self.close()
            raise RuntimeError(f"extraction child for {self.spec} failed to start: {e!r}") from e

    def close(self):
        if self.proc is not None:
            self.conn.close()
            self.proc.kill()
            self.proc.wait()
            self.proc = self.conn = None

    def __call__(self, html: bytes, content_type: str = "", url: str = "") -> str:
        """The page's main text, or raise ExtractFailed(reason)."""
        if self.proc is None:
            self.start()
        try:
            self.conn.send((html, content_type, url))
            if not self.conn.poll(self.timeout_s):
                self.close()
                raise ExtractFailed("extract_timeout")
            status, value = self.conn.recv()
        except (EOFError, OSError) as e:  # the child died: memory cap, segfault
            self.close()
            raise ExtractFailed("extract_crash") from e
        if status != "ok":
            raise ExtractFailed(value)
        if not value or not value.strip():
            raise ExtractFailed("empty_text")
        return value.strip()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))
