"""The reproduce tests run torch single-threaded: the machine's cores are shared, and oversubscribed threads are far
slower there (the dry run's own subprocess sets OMP_NUM_THREADS=1 likewise)."""

import pytest


@pytest.fixture(autouse=True)
def _single_thread(single_thread_torch):
    yield
