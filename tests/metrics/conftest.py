import pytest
import torch
from threadpoolctl import threadpool_limits  # installed with scikit-learn


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run torch and BLAS on one thread: these small CPU workloads gain nothing from two, and
    become many times slower when another process holds a core (threads spin waiting for each
    other). Both settings are restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)
