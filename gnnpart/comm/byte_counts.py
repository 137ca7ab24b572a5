"""Byte and time accounting of the halo exchanges of one rank."""
from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("payload", "indices", "scales", "partial_sums")
"""What a message part carries: row values, positions or channel numbers, per-row scales, and the values of
partial sums (pre-aggregation, :mod:`gnnpart.comm.sum_plan`; a partial sum's scale, under ``int8``, is a scale)."""
DIRECTIONS = ("forward", "backward")
"""Rows go forward (owner to holders), their gradients backward (holders to owner)."""


@dataclass
class ExchangeStats:
    """Bytes this rank sent and seconds it spent in halo exchanges, since the last :meth:`reset`.

    Attributes:
        bytes_forward (int), bytes_backward (int): bytes of the buffers sent, each direction.
        seconds (float): wall time of the exchanges (``halo_s``): from posting each message to having its rows
            (or gradients) decoded, including work the rank overlapped with the message in flight.
        wait_seconds (float): the part of ``seconds`` the rank spent on the exchange alone (``halo_wait_s``, the
            exposed communication): posting, blocked waiting, decoding. Equal to ``seconds`` for a blocking exchange.
        bytes_by_layer (dict): ``{key: bytes}``, both directions, for the exchanges made with a key (a layer).
        detail (dict): ``{key: {direction: {kind: bytes}}}`` with the kinds of :data:`KINDS`.
        bytes_exact (int): what exact exchanges of the same calls would have sent (every row, full width, float).
        bytes_internode (int): the part of the bytes sent that went to ranks on other hosts (see :attr:`internode`).
        internode (np.ndarray | None): bool ``[size]``, the ranks on another host than this one's (set by the
            exchange, from MPI's shared-memory split; None: all on one host).
    """

    bytes_forward: int = 0
    bytes_backward: int = 0
    seconds: float = 0.0
    wait_seconds: float = 0.0
    bytes_by_layer: dict = field(default_factory=dict)
    detail: dict = field(default_factory=dict)
    bytes_exact: int = 0
    bytes_internode: int = 0
    internode: object = None

    def add_internode(self, send_counts, row_bytes: int) -> None:
        """Count the bytes of a message part that go to ranks on other hosts.

        Args:
            send_counts (np.ndarray): int ``[size]``, the rows sent to each rank.
            row_bytes (int): bytes a row.
        """
        if self.internode is not None:
            self.bytes_internode += int(send_counts[self.internode].sum()) * int(row_bytes)

    @property
    def bytes(self) -> int:
        """Bytes sent, both directions."""
        return self.bytes_forward + self.bytes_backward

    def add_time(self, span: float, exposed: float | None = None) -> None:
        """Count an exchange's wall time ``span``, of which ``exposed`` (default all) the rank did nothing else.

        Args:
            span (float): seconds from posting to the rows being decoded.
            exposed (float, optional): seconds of ``span`` not overlapped with other work.
        """
        self.seconds += span
        self.wait_seconds += span if exposed is None else exposed

    def add(self, key, direction: str, kind: str, nbytes: int) -> None:
        """Count ``nbytes`` sent under ``key`` (a layer, or None) in ``direction`` as ``kind``.

        Args:
            key (int | None): the exchange's key; None counts only the totals.
            direction (str): ``"forward"`` or ``"backward"``.
            kind (str): one of :data:`KINDS`.
            nbytes (int): bytes sent.
        """
        if direction == "forward":
            self.bytes_forward += nbytes
        else:
            self.bytes_backward += nbytes
        if key is not None:
            self.bytes_by_layer[key] = self.bytes_by_layer.get(key, 0) + nbytes
            per_kind = self.detail.setdefault(key, {d: dict.fromkeys(KINDS, 0) for d in DIRECTIONS})[direction]
            per_kind[kind] += nbytes

    def reset(self) -> None:
        """Zero every count."""
        self.bytes_forward = self.bytes_backward = self.bytes_exact = self.bytes_internode = 0
        self.seconds = self.wait_seconds = 0.0
        self.bytes_by_layer = {}
        self.detail = {}
