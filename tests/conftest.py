"""pytest setup: the scripts at the repository root import as modules (also under plain `pytest`)."""
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
