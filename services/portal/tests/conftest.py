"""The portal's tests import their fake services by name (the suite's pythonpath does not
list this directory)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
