"""PII masking: e-mail addresses and public IP addresses in kept text.

A rewriter, the last step before dedup (it never rejects). Private, loopback and reserved
addresses stay, since they identify nobody; the counts are signals, so users
can see how much was masked.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pipeline.doc import Doc
from pipeline.rewriters.base import Rewriter

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\w)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _is_public(candidate: str) -> bool:
    try:
        return ipaddress.ip_address(candidate).is_global
    except ValueError:
        return False


@dataclass
class PIIMask(Rewriter):
    name = "pii"
    signals = ("pii_emails", "pii_ips")

    email_replacement: str = "email@example.com"
    ip_replacement: str = "192.0.2.0"   # TEST-NET-1: documentation-only, never a real host

    def rewrite(self, doc: Doc) -> str:
        counts = {"emails": 0, "ips": 0}

        def ip(match: re.Match) -> str:
            if not _is_public(match.group()):
                return match.group()
            counts["ips"] += 1
            return self.ip_replacement

        text = doc.text
        if "@" in text:  # the regexes only run where they can match
            text, counts["emails"] = _EMAIL.subn(self.email_replacement, text)
        if "." in text:
            text = _IPV4.sub(ip, text)
        if "::" in text or text.count(":") >= 3:
            text = _IPV6.sub(ip, text)
        self.record(doc, **counts)
        return text
