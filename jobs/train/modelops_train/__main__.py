"""`python -m modelops_train train ...` is the same as `modelops train ...`."""

import sys

from modelops_train.cli import main

sys.exit(main())
