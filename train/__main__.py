"""`python -m train ...` == `cc2gpt train ...` (and `torchrun --nproc_per_node=N -m train ...`)."""

import sys

from .cli import main

sys.exit(main())
