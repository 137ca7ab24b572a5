"""When a message is used: in the epoch that sent it (:class:`Fresh`), or up to K epochs later (:class:`Stale`)."""
from __future__ import annotations

from collections import deque

from gnnpart.comm.handle import Handle


class Fresh:
    """Every message is used in the epoch that sent it."""

    def forward(self, handle: Handle) -> Handle:
        """The forward message to use now, given the one just posted.

        Args:
            handle (Handle): this epoch's forward message.
        """
        return handle

    def backward(self, handle: Handle) -> Handle:
        """The gradient message whose rows owners add now, given the one just posted.

        Args:
            handle (Handle): this epoch's gradient message.
        """
        return handle

    def drain(self) -> None:
        """Complete every message still in flight."""


class Stale:
    """Halo rows, and the gradients sent back, may be up to ``epochs`` epochs old (PipeGCN).

    Up to ``epochs`` messages are in flight each way, so the exchange of one epoch overlaps the compute of the
    next ones. An epoch uses the newest forward message that is ``epochs`` old (the first epoch waits for its
    own); the gradients an epoch sends back are added by their owners ``epochs`` epochs later (the first
    epoch's at once).

    Args:
        epochs (int): ``K >= 1``.
    """

    def __init__(self, epochs: int):
        self.epochs = int(epochs)
        self._forward: deque = deque()
        self._backward: deque = deque()
        self._current: Handle | None = None
        self._returned = False

    def forward(self, handle):
        self._forward.append(handle)
        if self._current is None or len(self._forward) > self.epochs:
            self._current = self._forward.popleft()
            self._current.wait()  # decoded into rows of its own, which the next epochs reuse
        return self._current

    def backward(self, handle):
        self._backward.append(handle)
        if not self._returned or len(self._backward) > self.epochs:
            self._returned = True
            return self._backward.popleft()
        return Handle(finish=lambda grad_inner: grad_inner)  # nothing lands this epoch

    def drain(self):
        while self._forward:
            self._forward.popleft().complete()
        while self._backward:
            self._backward.popleft().complete()
        self._current, self._returned = None, False
