"""`cc2gpt curate` / `python -m pipeline`: build the Beam job from the command line and run it."""
import json
import logging
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.curate import Curate
from pipeline.options import parse_args
from tokenizer.manifest import read_manifest


def curate_main(argv: list[str]) -> int:
    config, beam_args = parse_args(argv)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    started = time.time()
    with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
        _ = p | "Curate" >> Curate(config)
    funnel = read_manifest(config.output)["funnel"]
    print(f"cc2gpt curate: wrote {config.output} in {time.time() - started:.1f}s", file=sys.stderr)
    print(json.dumps(funnel, indent=2))
    return 0
