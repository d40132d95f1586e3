"""`python -m cc2gpt.train ...` (in a checkout also `python -m train ...`) is `cc2gpt train ...`,
so `torchrun --nproc_per_node=N -m cc2gpt.train ...` runs it on N processes."""

import sys

from cc2gpt.train.cli import main

sys.exit(main())
