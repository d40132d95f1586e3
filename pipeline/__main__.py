"""`python -m pipeline ...` is `cc2gpt curate ...`."""
import sys

from pipeline.cli import curate_main

sys.exit(curate_main(sys.argv[1:]))
