"""`python -m code_in_pretraining.cli COMMAND ...`, the same as `cip COMMAND ...`."""

import sys

from code_in_pretraining.cli import main

sys.exit(main())
