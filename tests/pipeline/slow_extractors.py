"""Misbehaving extractors for the bounded-extraction tests (run in the child; stdlib only)."""
import os
import time


def misbehave(html: str, url: str, options: dict) -> str:
    """Echo the page, unless it asks to hang, crash, raise, eat memory or be empty."""
    if "HANG" in html:
        time.sleep(3600)
    if "CRASH" in html:
        os._exit(3)
    if "RAISE" in html:
        raise RuntimeError("broken page")
    if "HOG" in html:
        return "x" * (8 * 1024 ** 3)
    if "EMPTY" in html:
        return "  \n"
    return html
