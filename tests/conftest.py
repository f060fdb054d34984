import pytest


@pytest.fixture(scope="session")
def ray_local():
    """One small local Ray for every in-process sweep test (ray.init costs seconds)."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()
