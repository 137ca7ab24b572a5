"""What a training worker keeps of its model: every weight under ``SPEC/``, and a check that every rank holds the
same weights (the all-reduce keeps them in step)."""
import numpy as np
import torch


def keep_weights(results: dict, spec: str, comm, model, device) -> None:
    """Add ``SPEC/<name>`` for every weight and ``SPEC/device`` to ``results``; raise if the ranks' weights differ."""
    for key, value in model.state_dict().items():
        results[f"{spec}/{key}"] = value.cpu().numpy()
    results[f"{spec}/device"] = np.array(str(device))
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).cpu().numpy()
    gathered = comm.comm.gather(flat, root=0)
    if comm.rank == 0 and not all(np.array_equal(gathered[0], g) for g in gathered):
        raise AssertionError(f"{spec}: ranks hold different weights after training")
