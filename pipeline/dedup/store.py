"""Kept documents' MinHash signatures as Parquet under OUT/dedup/, so a later run can dedup against them."""
import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

SIGNATURES = "dedup/signatures"
SCHEMA = pa.schema([("id", pa.string()), ("signature", pa.binary()), ("sketch", pa.string())])


class WriteSignatures(beam.PTransform):
    """PCollection[(id, signature)] -> PCollection[path written] (OUT/dedup/signatures-*.parquet)."""

    def __init__(self, out: str, sketch: str):
        super().__init__()
        self.out, self.sketch = out, sketch

    def expand(self, signatures):
        return (signatures
                | "Rows" >> beam.Map(lambda s, sketch: {"id": s[0], "signature": s[1], "sketch": sketch},
                                     self.sketch)
                | "Write" >> beam.io.WriteToParquet(f"{self.out}/{SIGNATURES}", SCHEMA,
                                                    file_name_suffix=".parquet"))


def _check(row: dict, sketch: str):
    """A previous run's signature is usable only if it was made the same way."""
    if row["sketch"] != sketch:
        raise ValueError(f"dedup --against signatures were made as {row['sketch']!r}, "
                         f"this run makes {sketch!r}: they cannot be compared")
    return row["id"], row["signature"]


class ReadSignatures(beam.PTransform):
    """PBegin -> PCollection[(id, signature)] that a previous run kept (OUT/dedup/signatures-*.parquet)."""

    def __init__(self, previous_out: str, sketch: str):
        super().__init__()
        self.pattern = f"{previous_out.rstrip('/')}/{SIGNATURES}*.parquet"
        self.sketch = sketch

    def expand(self, pbegin):
        if not FileSystems.match([self.pattern])[0].metadata_list:
            raise FileNotFoundError(f"dedup --against: no saved signatures match {self.pattern}")
        return (pbegin
                | "Read" >> beam.io.ReadFromParquet(self.pattern)
                | "Check" >> beam.Map(_check, self.sketch))
