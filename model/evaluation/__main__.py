"""``python -m model.evaluation {pairs,catalogue}``: see ``model.evaluation.evaluate``."""

import sys

from model.evaluation.evaluate import main

sys.exit(main())
