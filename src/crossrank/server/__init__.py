"""``crossrank serve``: one loaded model behind the rerank APIs clients already speak.

Needs the ``serve`` extra: ``pip install "crossrank[serve]"``.
"""

from ..settings import ServerLimits
from .app import create_app

__all__ = ["ServerLimits", "create_app"]
