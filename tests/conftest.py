import pytest


def pytest_collection_modifyitems(items):
    """A test that starts Ray (marked `ray`, or using the `ray_local` fixture) is slow, whatever
    else it is: `-m "not slow"` leaves it out."""
    for item in items:
        if "ray_local" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)
        if item.get_closest_marker("ray"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def ray_local():
    """One small local Ray for every in-process sweep test (ray.init costs seconds)."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()
