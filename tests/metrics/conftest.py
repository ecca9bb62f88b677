import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small CPU batches run no faster on two threads, and far slower when another process holds
    a core (the threads spin waiting for each other); restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
