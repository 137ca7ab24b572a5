"""One handle type for every exchange in flight, and the byte buffers that messages borrow."""
from __future__ import annotations

from typing import Callable

import torch


class Handle:
    """A message in flight: its MPI requests, the buffers they use, and what to do with what arrives.

    :meth:`wait` waits for the requests, then runs ``finish(*args)`` once and returns its result (a second call
    returns the same result without running it again). :meth:`complete` only waits, for a message that is
    discarded. Blocking exchanges are ``exchange_async(...).wait()``: there is no other path.

    The handle holds the send and receive buffers until the requests have completed. MPI reads the send buffers
    and writes the receive buffers after the call that posted them has returned; if Python dropped the last
    reference to one of them meanwhile, its memory could be freed and reused by another tensor, and MPI would
    send garbage or overwrite live data.

    Args:
        requests (list): MPI requests (``.Wait()``).
        buffers (list): tensors the requests read or write, kept alive until they complete.
        finish (callable, optional): builds the result from the received buffers (default: returns None).
        release (callable, optional): called once the buffers are no longer needed (after ``finish``, or after
            :meth:`complete` when the message is discarded), to lend them to the next message.
        after (Handle, optional): a handle whose messages this one waits for first (see :meth:`then`).

    Attributes:
        transfer: what a forward message carried (a :class:`~gnnpart.comm.policy.row_choice.Transfer`), set by the
            exchange that posted it; the gradients of its rows go back along the same rows and channels.
    """

    def __init__(self, requests=(), buffers=(), finish: Callable | None = None, release: Callable | None = None,
                 after: "Handle | None" = None):
        self._requests = list(requests)
        self._buffers = list(buffers)
        self._finish = finish
        self._release = release
        self._after = after
        self._done = False
        self._result = None
        self.transfer = after.transfer if after is not None else None

    @property
    def done(self) -> bool:
        """Whether :meth:`wait` has produced its result."""
        return self._done

    def complete(self) -> None:
        """Wait until the messages have arrived, without using them."""
        if self._after is not None:
            self._after.complete()
        for request in self._requests:
            request.Wait()
        self._requests = []
        if self._done or self._finish is None:
            self._drop()

    def test(self) -> bool:
        """Let MPI move the messages on without blocking; True when every one has arrived.

        MPI libraries without a progress thread (MPICH and Open MPI by default) move a large message only inside MPI
        calls, so work overlapped with a message calls this now and then (see :mod:`gnnpart.nn.overlap`). Requests
        that cannot be tested (a GPU transport's) count as not arrived until :meth:`wait`.
        """
        arrived = self._after.test() if self._after is not None else True
        pending = []
        for request in self._requests:
            probe = getattr(request, "Test", None)
            if probe is None or not probe():
                pending.append(request)
        self._requests = pending
        return arrived and not pending

    def wait(self, *args):
        """Wait for the messages, then return ``finish(*args)`` (computed once)."""
        if not self._done:
            for request in self._requests:
                request.Wait()
            self._requests = []
            self._result = self._finish(*args) if self._finish is not None else None
            self._done = True
            self._drop()
        return self._result

    def then(self, fn: Callable) -> "Handle":
        """A handle whose ``wait(*args)`` returns ``fn(self, *args)`` (``fn`` waits for this handle itself)."""
        return Handle(finish=lambda *args: fn(self, *args), after=self)

    def _drop(self) -> None:
        self._buffers = []
        if self._release is not None:
            release, self._release = self._release, None
            release()


class BufferPool:
    """Byte buffers kept from one message to the next, one per slot.

    Writing into warm pages is several times faster than into a fresh allocation, whose pages the kernel must
    fault in and zero on first touch. A buffer is lent to one message at a time (:meth:`take` removes it from the
    pool, :meth:`give` returns it), so two messages in flight never share one.
    """

    def __init__(self):
        self._free: dict = {}

    def take(self, slot, nbytes: int, device=None) -> torch.Tensor:
        """A uint8 ``[nbytes]`` buffer: the slot's own when it is free and large enough, else a new one.

        Args:
            slot (hashable): which buffer (one message part in one direction of one exchange).
            nbytes (int): bytes needed.
            device (torch.device, optional): where the buffer lives (default the CPU); each device has its own.
        """
        device = torch.device("cpu" if device is None else device)
        buf = self._free.pop((slot, device), None)
        if buf is None:
            buf = torch.empty(nbytes, dtype=torch.uint8, device=device)
        elif buf.numel() < nbytes:  # the slot's messages vary in size (sampling): grow with headroom
            buf = torch.empty(nbytes + nbytes // 8, dtype=torch.uint8, device=device)
        return buf[:nbytes]

    def give(self, slot, buf: torch.Tensor) -> None:
        """Return a buffer taken from ``slot`` (the pool keeps the latest one given back).

        Args:
            slot (hashable): the slot it was taken from.
            buf (torch.Tensor): uint8 ``[nbytes]``, as :meth:`take` returned it.
        """
        base = buf._base if buf._base is not None else buf
        self._free[(slot, base.device)] = base
