"""The reproduce tests run torch single-threaded: the machine's cores are shared, and oversubscribed threads are far
slower there (the dry run's own subprocess sets OMP_NUM_THREADS=1 likewise)."""

import pytest


@pytest.fixture(autouse=True)
def single_thread_torch():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
