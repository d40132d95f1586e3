"""`python -m cc2gpt ...` is the `cc2gpt` command."""
import sys

from cc2gpt.cli import main

sys.exit(main())
