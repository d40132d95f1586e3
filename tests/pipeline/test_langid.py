"""Language ID with lid.176: target languages, the score threshold, and the DoFn."""
import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.doc import Doc
from pipeline.langid import LanguageConfig, LanguageFn, identify, load_model

EN = "The committee met on Tuesday to review the budget and the plans for the new library."
DE = "Der Ausschuss traf sich am Dienstag, um den Haushalt und die Pläne für die Bibliothek zu prüfen."
FR = "Le comité s'est réuni mardi pour examiner le budget et les projets de la nouvelle bibliothèque."


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_identify_targets_and_threshold(model):
    lang, score, reason = identify(model, EN, LanguageConfig())
    assert (lang, reason) == ("en", None) and score >= 0.65
    assert identify(model, DE, LanguageConfig())[::2] == ("de", "wrong_language")
    assert identify(model, DE, LanguageConfig(languages=("en", "de")))[::2] == ("de", None)
    assert identify(model, FR, LanguageConfig(languages=()))[::2] == ("fr", None)  # any language
    # the threshold is inclusive: at the exact score a document is kept, just above it is not
    assert identify(model, EN, LanguageConfig(min_score=score))[2] is None
    assert identify(model, EN, LanguageConfig(min_score=score + 1e-6))[2] == "low_language_score"


def test_multiline_and_empty_text(model):
    assert identify(model, EN.replace(" ", "\n"), LanguageConfig())[::2] == ("en", None)
    assert identify(model, "", LanguageConfig())[2] in ("low_language_score", "wrong_language")


def test_language_fn_sets_language_or_rejects():
    docs = [Doc(id=i, url="", crawl_date="", text=t) for i, t in (("en", EN), ("de", DE))]
    with TestPipeline() as p:
        out = (p | beam.Create(docs) | beam.ParDo(LanguageFn(LanguageConfig()))
               .with_outputs("rejected", main="kept"))
        assert_that(out.kept | beam.Map(lambda d: (d.id, d.language, d.language_score > 0.65)),
                    equal_to([("en", "en", True)]), label="kept")
        assert_that(out.rejected | beam.Map(lambda d: (d.id, d.language, d.stage, d.reason)),
                    equal_to([("de", "de", "language", "wrong_language")]), label="rejected")
