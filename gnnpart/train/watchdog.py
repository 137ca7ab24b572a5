"""A watchdog against stuck ranks: when no epoch completes in time, end the job with one line that names the
stuck ranks and what they were doing.

A rank that raises aborts the job at once (``python -m mpi4py``). A rank that is *stuck* never raises: a read on a
dead network file system, a deadlock, a peer waiting in another collective. The others then wait in an
``Alltoallv`` forever. Each rank records what it is doing in a :class:`Progress` (the trainer and the graph set
its phase: halo exchange of layer i, the layer's compute, backward, gradient all-reduce, evaluation, checkpoint).
A :class:`Watchdog` thread on every rank reports it to rank 0 over a communicator of its own; when no epoch has
completed for ``timeout`` seconds, rank 0 prints which ranks are stuck (silent, or busy while others wait for
them) and what every rank was doing, and aborts the job with ``MPI_Abort``. Rank 0 also sends every rank a heartbeat
each interval: should rank 0 itself be silent (stopped, or on a node that died), the others end the job a little
after the limit (two intervals), naming rank 0.

Silence is judged apart from slowness. Every rank's watchdog thread reports at once when training starts, then each
interval; a rank whose thread has sent nothing for :data:`PEER_SILENCE_S` seconds (15) since its last report is gone
(killed, stopped, its node down), and rank 0 ends the job then, naming it, whatever the epoch limit (a rank that
hears nothing from rank 0 for as long does the same): under ``srun`` without ``--kill-on-bad-exit`` a killed rank
would otherwise leave the others waiting until the limit. The thread runs beside the computation (gnnpart's and
torch's kernels release the GIL), so a rank that is merely slow, in a long epoch or a long exchange, keeps
reporting, and only the epoch limit ends it. A rank never heard from (one that has not started training) is also
left to the epoch limit.
"""
from __future__ import annotations

import threading
import time

from gnnpart.processes import abort_job

_TAG = 0x7761  # "wa": a rank's report to rank 0
_BEAT = 0x7762  # rank 0's heartbeat to the others
WAITING = ("exchange", "all-reduce", "barrier")
"""Phases in which a rank waits for the others (a rank elsewhere is the stuck one)."""
PEER_SILENCE_S = 15.0
"""Seconds without a word from a rank's watchdog thread, after its first, after which that rank is taken for gone
(killed, stopped, its node down) and the job ended. The thread runs beside the computation, so a rank that is merely
slow (a long epoch, a long exchange) keeps sending: slowness is the epoch limit's to judge (``timeout``), silence
this one's."""


class Progress:
    """What this rank is doing now; written by the training loop (plain attribute writes, no locking)."""

    def __init__(self):
        self.epoch = 0
        self.phase = "setup"
        self.since = time.monotonic()
        self.last_epoch = time.monotonic()

    def enter(self, phase: str) -> None:
        """This rank now does ``phase``.

        Args:
            phase (str): e.g. ``"halo exchange of layer 1"``.
        """
        self.phase, self.since = phase, time.monotonic()

    def epoch_done(self, epoch: int) -> None:
        """``epoch`` epochs are complete.

        Args:
            epoch (int): epochs done so far.
        """
        self.epoch, self.last_epoch = epoch, time.monotonic()

    def report(self, now: float) -> dict:
        """A picklable snapshot: epoch in progress, phase, seconds in it."""
        return {"epoch": self.epoch + 1, "phase": self.phase, "for": now - self.since}


def _describe(report: dict) -> str:
    return f"epoch {report['epoch']}, {report['phase']} for {report['for']:.0f} s"


class Watchdog:
    """Ends the job when no epoch completes within ``timeout`` seconds (see the module docstring).

    Args:
        comm (Communicator): the job's communicator (a duplicate of it carries the reports).
        progress (Progress): this rank's progress.
        timeout (float): seconds without a completed epoch.
        interval (float, optional): seconds between reports (default ``timeout / 5``, between 0.2 s and a fifth of
            :data:`PEER_SILENCE_S`, 3 s).
    """

    def __init__(self, comm, progress: Progress, timeout: float, interval: float | None = None):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"`watchdog` must be a number of seconds > 0 (got {timeout!r})")
        self.comm, self.progress, self.timeout = comm, progress, float(timeout)
        self.interval = interval or max(0.2, min(5.0, self.timeout / 5, PEER_SILENCE_S / 5))
        self.silence = max(PEER_SILENCE_S, 3 * self.interval)
        mpi = comm.MPI
        self.shared = comm.size > 1 and mpi.Query_thread() == mpi.THREAD_MULTIPLE
        host, names = comm.hosts()  # collective (once a job): messages name each rank's host
        self.where = {r: names[h] for r, h in enumerate(host.tolist())}
        self.channel = comm.comm.Dup() if self.shared else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # what went over the channel, so that stop() can receive what is still in flight
        self._sent_reports, self._got_beats = 0, 0
        self._got_reports: dict = {}
        self._sent_beats: dict = {}
        self._sends: dict = {}

    def start(self) -> None:
        """Start watching (the clock of the next epoch starts now)."""
        self.progress.epoch_done(self.progress.epoch)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gnnpart-watchdog", daemon=True)
        self._thread.start()

    def stop(self, drain: bool = True) -> None:
        """Stop watching (the job is past the epochs).

        Args:
            drain (bool): receive every report and heartbeat still in flight and complete every send, so that no
                message is left unreceived at ``MPI_Finalize`` (MPI libraries warn of such: UCX's "unexpected
                tag-receive descriptor"). Collective over the ranks: every rank stops with it, after its last epoch;
                a rank that leaves on an error passes False.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if drain and self.shared and self.channel is not None:
            self._drain()

    def _drain(self) -> None:
        """Settle the channel: each rank tells rank 0 how many reports it sent and rank 0 tells each how many
        heartbeats; each receives what is still missing and completes its sends."""
        channel, rank = self.channel, self.comm.rank
        sent_reports = channel.gather(self._sent_reports, root=0)
        if rank == 0:
            for r in range(1, self.comm.size):
                for _ in range(sent_reports[r] - self._got_reports.get(r, 0)):
                    channel.recv(source=r, tag=_TAG)
        beats = channel.scatter([0] + [self._sent_beats.get(r, 0) for r in range(1, self.comm.size)]
                                if rank == 0 else None, root=0)
        for _ in range(beats - self._got_beats if rank != 0 else 0):
            channel.recv(source=0, tag=_BEAT)
        for request in self._sends.values():
            if request is not None:
                request.Wait()
        channel.Barrier()  # the channel stays, for the next fit

    def _run(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # noqa: BLE001 - an MPI error in this thread (a peer gone): end the job, say so
            self._abort(f"gnnpart watchdog: rank {self.comm.rank}: lost contact with the other ranks "
                        f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); ending the job")

    def _watch(self) -> None:
        rank, reports, pending, beats = self.comm.rank, {}, None, {}
        heard, beat, first = time.monotonic(), None, True  # beat: when rank 0 was last heard (None: not yet)
        while first or not self._stop.wait(self.interval):  # the first report goes at once: a rank is heard from
            first, now = False, time.monotonic()  # as soon as it trains
            if self.shared and rank != 0:
                if pending is None or pending.Test():
                    pending = self._sends[0] = self.channel.isend(self.progress.report(now), dest=0, tag=_TAG)
                    self._sent_reports += 1
                while self.channel.iprobe(source=0, tag=_BEAT):
                    self.channel.recv(source=0, tag=_BEAT)
                    self._got_beats += 1
                    heard = beat = now
            elif self.shared:
                status = self.comm.MPI.Status()
                while self.channel.iprobe(source=self.comm.MPI.ANY_SOURCE, tag=_TAG, status=status):
                    source = status.Get_source()
                    reports[source] = (now, self.channel.recv(source=source, tag=_TAG))
                    self._got_reports[source] = self._got_reports.get(source, 0) + 1
                for r in range(1, self.comm.size):  # a rank that hears nothing from rank 0 knows it is silent
                    if beats.get(r) is None or beats[r].Test():
                        beats[r] = self._sends[r] = self.channel.isend(None, dest=r, tag=_BEAT)
                        self._sent_beats[r] = self._sent_beats.get(r, 0) + 1
                # a rank never heard from (not yet training) is left to the epoch limit: only silence after a report
                # means gone
                if any(now - at > self.silence for at, _ in reports.values()):  # every rank silent by now is
                    quiet = [r for r, (at, _) in sorted(reports.items()) if now - at > 3 * self.interval]  # named
                    self._abort(self._gone(now, quiet, reports))
            if self.shared and rank != 0 and beat is not None and now - beat > self.silence:
                self._abort(f"gnnpart watchdog: rank {rank}: rank 0 on {self.where.get(0, '?')} is gone: no word "
                            f"from it for {now - beat:.0f} "
                            f"s (its process ended or stopped, or its node is down); this rank: "
                            f"{_describe(self.progress.report(now))}; ending the job")
            idle = now - self.progress.last_epoch
            if rank == 0 and idle > self.timeout:
                self._abort(self._verdict(now, idle, reports))
            rank0_silent = self.shared and rank != 0 and now - heard > 3 * self.interval
            # rank 0 has the first word (it knows every rank's state); when it is silent itself (stopped, on a dead
            # node), the others end the job a little after the limit, naming it
            if idle > self.timeout + 2 * self.interval and rank0_silent:
                self._abort(f"gnnpart watchdog: rank {rank}: no epoch completed in {idle:.0f} s (the watchdog's "
                            f"limit is {self.timeout:g} s); stuck: rank 0 (silent: it sent nothing for "
                            f"{now - heard:.0f} s); this rank: {_describe(self.progress.report(now))}")
            if idle > self.timeout * 1.5 + 3 * self.interval:
                self._abort(f"gnnpart watchdog: rank {rank}: no epoch completed in {idle:.0f} s (the watchdog's "
                            f"limit is {self.timeout:g} s); this rank: {_describe(self.progress.report(now))}; rank 0 "
                            "did not end the job")

    def _gone(self, now: float, gone: list, reports: dict) -> str:
        names = ", ".join(f"rank {r} on {self.where.get(r, '?')} (last heard {now - reports[r][0]:.0f} s ago, "
                          f"{_describe(reports[r][1])})" for r in gone)
        hosts = sorted({self.where.get(r, "?") for r in gone})
        return (f"gnnpart watchdog: {names} {'is' if len(gone) == 1 else 'are'} gone: no word for more than "
                f"{self.silence:.0f} s (the process ended or stopped, or its node is down: "
                f"{'host' if len(hosts) == 1 else 'hosts'} {', '.join(hosts)} unreachable?); ending the job")

    def _verdict(self, now: float, idle: float, reports: dict) -> str:
        states = {0: self.progress.report(now)}
        silent = []
        for r in range(1, self.comm.size):
            got = reports.get(r)
            if got is None or now - got[0] > 3 * self.interval:
                silent.append(r)
            else:
                states[r] = got[1]
        busy = [r for r, s in sorted(states.items()) if not any(w in s["phase"] for w in WAITING)]
        stuck = sorted(silent + busy) or sorted(states)  # everyone waiting: a deadlock among them all
        parts = []
        for r in stuck:
            parts.append(f"rank {r} (silent: it sent no report for {3 * self.interval:.0f} s)" if r in silent
                         else f"rank {r} ({_describe(states[r])})")
        waiting = [f"rank {r} ({_describe(states[r])})" for r in sorted(states) if r not in stuck]
        return (f"gnnpart watchdog: no epoch completed in {idle:.0f} s (the watchdog's limit is {self.timeout:g} s); "
                "stuck: " + "; ".join(parts) + ("; waiting for them: " + "; ".join(waiting) if waiting else ""))

    def _abort(self, line: str) -> None:
        abort_job(line, self.comm.abort)
