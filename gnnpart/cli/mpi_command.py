"""``gnnpart mpi``: which MPI this installation runs on, and how to launch it (mpiexec, srun's plugin)."""
from __future__ import annotations

import argparse
import os
import subprocess

from gnnpart.errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser("mpi", help="show the MPI that gnnpart runs on and how to launch it",
                       description="Show the MPI library mpi4py runs on, the mpiexec that `train -n` starts, and the "
                                   "srun --mpi= plugin that library needs (without starting MPI).")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--srun-plugin", action="store_true",
                      help="print only the srun --mpi= value (for scripts: srun --mpi=$(gnnpart mpi --srun-plugin))")
    what.add_argument("--mpiexec", action="store_true", help="print only the mpiexec that `train -n` starts")
    what.add_argument("--check", action="store_true",
                      help="start 2 ranks through that mpiexec and check that they form one job (with --hostfile: "
                           "one rank per slot of the file's hosts, and which hosts they ran on)")
    p.add_argument("--hostfile", metavar="FILE",
                   help="with --check: the machines, as mpiexec takes them (MPICH: `host[:slots]` a line; Open MPI: "
                        "`host slots=N`)")
    p.set_defaults(handler=run_cli)


CHECK = ("from mpi4py import MPI; w = MPI.COMM_WORLD; "
         "print(w.Get_size(), MPI.Get_library_version().splitlines()[0].strip()) if w.Get_rank() == 0 else None")
CHECK_HOSTS = ("import socket; from mpi4py import MPI; w = MPI.COMM_WORLD; n = w.gather(socket.gethostname()); "
               "print(w.Get_size(), ','.join(dict.fromkeys(n)), MPI.Get_library_version().splitlines()[0].strip()) "
               "if w.Get_rank() == 0 else None")


def hostfile_slots(path) -> int:
    """The ranks a hostfile has room for: the slots of every line (MPICH's ``host:slots``, Open MPI's ``host
    slots=N``; a host alone is one), comments and blank lines left out.

    Raises:
        ConfigError: the file cannot be read, holds no host, or a slot count that is not a whole number >= 1.
    """
    import re

    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as exc:
        raise ConfigError(f"--hostfile {path}: {exc.strerror or exc}") from None
    total = 0
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = re.fullmatch(r"[^\s:]+(?::(\S+)|\s+slots=(\S+)(?:\s.*)?)?", text)
        slots = match and (match.group(1) or match.group(2) or "1")
        if not match or not slots.isdigit() or int(slots) < 1:
            raise ConfigError(f"--hostfile {path}, line {number}: expected `host`, `host:slots` or `host slots=N` "
                              f"with slots >= 1 (got {text[:60]!r})")
        total += int(slots)
    if not total:
        raise ConfigError(f"--hostfile {path} names no host")
    return total


def check_hosts(hostfile, timeout: float = 180) -> str:
    """Start one rank per slot of ``hostfile`` through the mpiexec of ``train -n``; they must form one job.

    Returns:
        the line to print: the ranks, the hosts they ran on, the MPI library.

    Raises:
        ConfigError: the file is bad, or the ranks did not start or did not form one job.
    """
    from gnnpart.cli.launcher import mpiexec_command, mpiexec_library

    n = hostfile_slots(hostfile)
    cmd = mpiexec_command(n, ["-c", CHECK_HOSTS])
    where = ["--hostfile", str(hostfile)] if mpiexec_library(cmd[0]) == "Open MPI" else ["-f", str(hostfile)]
    cmd = [cmd[0], *where, *cmd[1:]]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"`--check --hostfile {hostfile}`: {n} ranks through {cmd[0]} did not end within "
                          f"{timeout:g} s: can every host reach the others (mpiexec's ssh, the firewall)?") from None
    first = proc.stdout.split("\n")[0].split(" ", 2)
    if proc.returncode != 0 or len(first) < 3 or first[0] != str(n):
        said = " ".join((proc.stderr or proc.stdout).split())[-300:]
        raise ConfigError(f"`--check --hostfile {hostfile}`: {n} ranks through {cmd[0]} did not form one job (exit "
                          f"status {proc.returncode}){'; it said: ' + said if said else ''}")
    names = first[1].split(",")
    return (f"{n} ranks on {len(names)} host{'s' if len(names) > 1 else ''} ({', '.join(names)}) formed one job, "
            f"on {first[2]}")


def check_job(timeout: float = 120) -> str:
    """Start 2 ranks through :func:`~gnnpart.cli.launcher.find_mpiexec`; they must form one job of 2.

    Returns:
        the line to print (the MPI library the ranks ran on).

    Raises:
        ConfigError: they did not start, or each was a job of its own (mpiexec and mpi4py of two MPIs).
    """
    from gnnpart.cli.launcher import mpi_library, mpiexec_command

    cmd = mpiexec_command(2, ["-c", CHECK])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"`--check`: 2 ranks through {cmd[0]} did not end within {timeout:g} s") from None
    lines = proc.stdout.split("\n")
    if proc.returncode != 0 or not lines[0].startswith("2 "):
        said = " ".join((proc.stderr or proc.stdout).split())[-300:]
        raise ConfigError(f"`--check`: 2 ranks through {cmd[0]} did not form one job (exit status "
                          f"{proc.returncode}; sizes seen: {[l.split()[0] for l in lines if l[:1].isdigit()]}; "
                          f"mpi4py runs on {mpi_library()}): mpiexec and mpi4py must be of the same MPI (see `gnnpart "
                          f"mpi`){'; it said: ' + said if said else ''}")
    return f"2 ranks through {cmd[0]} formed one job, on {lines[0].split(' ', 1)[1]}"


def run_cli(args: argparse.Namespace) -> int:
    from gnnpart.cli.launcher import find_mpiexec, mpi_library, mpiexec_library, srun_plugin

    if args.hostfile is not None and not args.check:
        raise ConfigError("--hostfile goes with --check (gnnpart mpi --check --hostfile FILE)")
    if args.check:
        print(check_hosts(args.hostfile) if args.hostfile is not None else check_job())
        return 0
    if args.mpiexec:
        print(find_mpiexec())
        return 0
    plugin = srun_plugin()
    if args.srun_plugin:
        if plugin is None:
            raise ConfigError("`--srun-plugin`: mpi4py runs on an MPI whose srun plugin gnnpart does not know "
                              f"({mpi_library()}); set GNNPART_SRUN_MPI (`srun --mpi=list` shows this Slurm's plugins)")
        print(plugin)
        return 0
    import mpi4py

    from gnnpart.cli.launcher import mpi_library_version

    text = mpi_library_version()
    library = mpi_library(text)
    version = (text.strip().splitlines() or ["unknown (mpi4py could not tell)"])[0].strip()
    try:
        mpiexec = find_mpiexec()
        launcher = mpiexec_library(mpiexec)
    except FileNotFoundError as exc:
        mpiexec, launcher = f"none ({exc})", None
    print(f"mpi4py       {mpi4py.__version__} ({os.path.dirname(mpi4py.__file__)})")
    print(f"MPI library  {version}")
    print(f"mpiexec      {mpiexec}{f' ({launcher})' if launcher else ''}  (what `gnnpart train -n N` starts; "
          "GNNPART_MPIEXEC overrides)")
    print(f"srun --mpi=  {plugin or 'unknown: set GNNPART_SRUN_MPI'}"
          f"{'  (GNNPART_SRUN_MPI)' if os.environ.get('GNNPART_SRUN_MPI') else ''}")
    if launcher not in (None, "unknown") and library != "unknown" and launcher != library:
        print(f"warning: this mpiexec is {launcher}'s but mpi4py runs on {library}: its ranks would each be a world "
              f"of 1; set GNNPART_MPIEXEC to {library}'s mpiexec, or make mpi4py load {launcher} "
              f"({'MPI4PY_LIBMPI=libmpi.so.40' if launcher == 'Open MPI' else 'MPI4PY_LIBMPI=libmpi.so.12'}, "
              "or rebuild it: see the README)")
    return 0
