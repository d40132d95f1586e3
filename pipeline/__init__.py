"""The cc2gpt curation job: an Apache Beam pipeline from WARC files to OUT/.

Stages (each its own module): warc (read), extract, langid, filters, dedup,
tokenize, sinks; `curate.Curate` chains them and `cli` runs it.
"""
