"""The cc2gpt curation job: an Apache Beam pipeline from WARC files to OUT/.

Stages (each its own module): warc (read), quality (the URL filter, then the
filters and rewriters), extract, langid, dedup, tokenize, sinks, all passing
one document type (doc.Doc); `curate.Curate` chains them and `cli` runs it.
"""
