"""Full-graph inference: run a trained model over every rank's part and write one ``.npy`` in global node order.

Each rank computes its inner rows (exact halo exchange, no dropout) and writes them, memory-mapped, at their
global ids into one file that rank 0 preallocated under a hidden temporary name next to the output; rows are
never gathered into one process. When every rank has written, rank 0 syncs the file and renames it into place,
so the output appears complete or not at all: a failure on any rank removes the temporary file and raises on
every rank. (A rank killed outright can leave the hidden ``.NAME.tmp-*`` file behind, never the output.) The
output's folder must be on a filesystem every rank sees.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from gnnpart.nn.contract import halo_layers


def check_output(out, overwrite: bool = False) -> Path:
    """Refuse, before any work, an output that could not be written.

    Args:
        out (str | Path): the ``.npy`` to write.
        overwrite (bool): replace an existing file.

    Raises:
        ValueError: naming ``--out``, the rule and the path.
    """
    path = Path(out)
    if path.suffix != ".npy":
        raise ValueError(f"--out must name a .npy file (got {path})")
    if path.is_dir():
        raise ValueError(f"--out {path} is a directory (expected a .npy file path)")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise ValueError(f"--out {path}: its directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"--out {path}: its directory {parent} is not writable")
    if path.exists() and not overwrite:
        raise ValueError(f"--out {path} already exists (pass --overwrite to replace it)")
    return path


@torch.no_grad()
def model_rows(model, x: torch.Tensor, graph, task, embeddings: int | None = None,
               probabilities: bool = False) -> torch.Tensor:
    """This rank's rows: the model's outputs (or probabilities), or the representation after halo layer
    ``embeddings``, in evaluation mode (exact exchange, no dropout).

    Args:
        model (torch.nn.Module): the trained model.
        x (torch.Tensor): ``[I, F]`` this rank's input features.
        graph (LocalGraph): this rank's graph.
        task (Task): the model's task (how outputs become probabilities).
        embeddings (int, optional): a layer number ``0 .. layers - 1``: a built-in model returns what
            :meth:`~gnnpart.nn.BasicGNN.embed` gives (after the layer's norm and activation); any other model,
            the output of the halo layer with that ``layer_id``.
        probabilities (bool): softmax or sigmoid of the outputs (not with ``embeddings``).

    Returns:
        float32 ``[I, C]`` on the CPU.
    """
    model.eval()
    layers = halo_layers(model)
    if embeddings is None:
        rows = task.output(model(x, graph), probabilities)
    else:
        if probabilities:
            raise ValueError("--probabilities applies to the model's outputs, not to --embeddings")
        if isinstance(embeddings, bool) or not isinstance(embeddings, int) or not 0 <= embeddings < len(layers):
            raise ValueError(f"--embeddings must be a layer number in [0, {len(layers)}) (got {embeddings!r})")
        if hasattr(model, "embed"):
            rows = model.embed(x, graph, embeddings)
        else:
            captured = []
            hook = layers[embeddings].register_forward_hook(lambda module, args, output: captured.append(output))
            try:
                model(x, graph)
            finally:
                hook.remove()
            rows = captured[0]
    return rows.detach().float().cpu()


def _temporary_name(path: Path, comm) -> Path:
    token = torch.tensor([os.getpid() if comm.rank == 0 else 0], dtype=torch.int64)
    comm.broadcast_(token)  # every rank names the same file (rank 0's pid)
    return path.with_name(f".{path.name}.tmp-{int(token[0])}")


def write_rows(comm, out, global_ids: np.ndarray, rows: torch.Tensor, num_nodes: int) -> Path:
    """Every rank writes its ``rows`` at ``global_ids`` of one ``[num_nodes, C]`` float32 ``.npy``, atomically.

    Every rank calls it. See the module docstring for how the file appears.

    Args:
        comm (Communicator): the job's communicator.
        out (str | Path): the ``.npy`` to write (replaced if it exists).
        global_ids (np.ndarray): int64 ``[I]`` the global id of each of this rank's rows.
        rows (torch.Tensor): ``[I, C]`` this rank's rows (the same ``C`` on every rank).
        num_nodes (int): rows of the file (every node owned by exactly one rank).

    Returns:
        Path: ``out``.

    Raises:
        RuntimeError: on every rank, when any rank failed (the failing rank raises its own error).
    """
    path = Path(out)
    width = int(rows.shape[1])
    total, squares, ranks = comm.sum_scalars([width, width * width, 1])
    if total * total != squares * ranks:  # the same decision on every rank: all widths equal, or refused
        raise ValueError(f"every rank must write rows of the same width (this rank: {width}, mean "
                         f"{total / ranks:g})")
    tmp = _temporary_name(path, comm)
    error = None
    if comm.rank == 0:
        try:
            np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(num_nodes, width)).flush()
        except Exception as exc:  # noqa: BLE001 - every rank must learn of it, or the others wait forever
            error = exc
    if comm.sum_scalars([error is not None])[0]:
        _fail(comm, tmp, error, f"rank 0 could not create {tmp}")
    try:
        target = np.load(tmp, mmap_mode="r+")
        target[np.asarray(global_ids, dtype=np.int64)] = rows.detach().cpu().numpy()
        target.flush()
        del target
    except Exception as exc:  # noqa: BLE001 - as above
        error = exc
    failed = comm.sum_scalars([error is not None])[0]
    if failed:
        _fail(comm, tmp, error, f"{int(failed)} rank(s) could not write their rows into {tmp}")
    if comm.rank == 0:
        try:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            folder = os.open(path.absolute().parent, os.O_RDONLY)
            try:
                os.fsync(folder)  # the rename itself survives a crash
            finally:
                os.close(folder)
        except Exception as exc:  # noqa: BLE001 - as above
            error = exc
    if comm.sum_scalars([error is not None])[0]:
        _fail(comm, tmp, error, f"rank 0 could not move {tmp} to {path}")
    return path


def _fail(comm, tmp: Path, error, message: str):
    if comm.rank == 0:
        tmp.unlink(missing_ok=True)
    comm.barrier()  # the temporary file is gone before any rank reports
    if error is not None:
        raise OSError(f"{message}: {type(error).__name__}: {error}") from None
    raise RuntimeError(f"{message} (see that rank's error); no output was written")


def load_trained(checkpoint, partition, comm, given: dict | None = None, weights: str = "best", device=None,
                 transport: str = "mpi"):
    """A :class:`~gnnpart.train.Trainer` holding the model of ``checkpoint``, built from the settings stored in it,
    on this rank's ``partition`` (any partition of the graph it was trained on).

    Args:
        checkpoint (str | Path): the folder of ``checkpoint.pt`` (written by ``gnnpart train --checkpoint``).
        partition (Partition): this rank's part.
        comm (Communicator): the job's communicator.
        given (dict, optional): settings the caller asked for (``{"hidden": 16}``); each must equal the
            checkpoint's.
        weights (str): ``best`` (the best-validation weights, the default) or ``last`` (the last epoch's).
        device (str, optional), transport (str): as the Trainer's.

    Raises:
        ValueError: one line, when the checkpoint holds no settings, a given setting contradicts it, or it was
            trained on another graph.
    """
    from gnnpart.nn import build_model
    from gnnpart.train.checkpoint import CHECKPOINT_FILE, load_checkpoint
    from gnnpart.train.trainer import Trainer

    if weights not in ("best", "last"):
        raise ValueError(f"`weights` must be best or last (got {weights!r})")
    state = load_checkpoint(checkpoint)
    path = Path(checkpoint) / CHECKPOINT_FILE
    settings, inference = state.get("settings") or {}, state.get("inference")
    if inference is None or "model" not in settings:
        raise ValueError(f"checkpoint {path} holds no model settings (it was written through the Python API without "
                         "`settings=`, or by an older gnnpart): build the model yourself, load the weights and call "
                         "Trainer.predict")
    for key, value in (given or {}).items():
        if settings.get(key) != value:
            raise ValueError(f"--{key} {value} contradicts checkpoint {path}, which was trained with {key} = "
                             f"{settings.get(key)!r}: leave --{key} out")
    meta = partition.meta
    if meta["num_features"] != inference["num_features"]:
        raise ValueError(f"checkpoint {path} was trained on {inference['num_features']} features; {meta['dataset']} "
                         f"has {meta['num_features']}")
    model = build_model(settings["model"], inference["num_features"], settings["hidden"], inference["num_outputs"],
                        settings["layers"], 0.0, 0.0, settings.get("heads", 8), edge_dim=meta["num_edge_features"],
                        norm=settings.get("norm"), jk=settings.get("jk"), residual=settings.get("residual", False))
    trainer = Trainer(model, partition, comm, settings=settings, device=device, transport=transport,
                      task=inference["task"], normalize_features=inference["normalize_features"],
                      dtype=getattr(torch, inference["dtype"]), halo=inference["halo"], watchdog=None)
    trainer.load_checkpoint(checkpoint)
    best = trainer.best.state
    if weights == "best" and best is not None:  # no best record (never evaluated): the last weights are the ones
        trainer.model.load_state_dict(best)
    return trainer
