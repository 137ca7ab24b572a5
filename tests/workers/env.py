"""What the environment asks of a test worker's ranks: ``GNNPART_TEST_DEVICE`` (cpu, cuda; default cpu) and
``GNNPART_TEST_TRANSPORT`` (default mpi) choose where and how they compute (the GPU tests set them)."""
import os

from gnnpart.rank import Placement


def placement() -> Placement:
    """The placement the environment asks for."""
    return Placement(os.environ.get("GNNPART_TEST_DEVICE", "cpu"), os.environ.get("GNNPART_TEST_TRANSPORT", "mpi"))
