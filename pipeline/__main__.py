"""`python -m pipeline ...` is `cc2gpt curate ...`."""
import sys

import cc2gpt

sys.exit(cc2gpt.main(["curate", *sys.argv[1:]]))
