"""What ``/ready`` checks: the store answers and the keyword index has caught up.

(The models load before the server listens, so a server that answers has them.) A
check that gets no answer in ``CHECK_TIMEOUT_S`` fails; a keyword index that could not
catch up (the store was down) tries again at the next check.
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import StoreError
from ..store import Store

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 5.0


class Readiness:
    """The server's readiness, for load balancers and Kubernetes' readiness probe.

    Args:
        store: The store searches use, if any.
        keyword: Whether searches read the store's keyword index (hybrid or bm25 by
            default): it is then brought in step at the start, and ready once it is.
    """

    def __init__(self, store: Store | None, *, keyword: bool) -> None:
        self.store = store
        self.keyword = keyword and store is not None
        self._caught_up = False
        self._problem = "catching up with the collection"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start bringing the keyword index in step, in the background."""
        if self.keyword and not self._caught_up and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._catch_up())

    async def _catch_up(self) -> None:
        assert self.store is not None
        self._problem = "catching up with the collection"
        try:
            await asyncio.to_thread(self.store.bm25.catch_up)
        except (StoreError, OSError, ValueError) as error:
            self._problem = f"could not catch up: {error}"
            logger.warning("the keyword index could not catch up: %s", error)
        else:
            self._caught_up = True

    async def problems(self) -> dict[str, str]:
        """What is not ready, by part (``store``, ``keyword_index``); empty when ready."""
        problems: dict[str, str] = {}
        if self.store is not None:
            try:
                await asyncio.wait_for(
                    asyncio.to_thread(self.store.collection.ping), CHECK_TIMEOUT_S
                )
            except TimeoutError:
                problems["store"] = (
                    f"{self.store.connection.describe()} gave no answer in {CHECK_TIMEOUT_S:g} s"
                )
            except StoreError as error:
                problems["store"] = str(error)
        if self.keyword and not self._caught_up:
            problems["keyword_index"] = self._problem
            if "store" not in problems:
                self.start()
        return problems


__all__ = ["CHECK_TIMEOUT_S", "Readiness"]
