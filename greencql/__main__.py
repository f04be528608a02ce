"""`python -m greencql` runs the `greencql` command."""

import sys

from greencql.cli import main

sys.exit(main())
