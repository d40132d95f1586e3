"""`python -m cc2gpt.train.finetune classify|instruct ...` == `cc2gpt finetune ...` (and under
`torchrun --nproc_per_node=N -m cc2gpt.train.finetune ...`)."""

import sys

from .cli import main

sys.exit(main())
