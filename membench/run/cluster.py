"""Ray for a sweep: join the cluster the user names (or start a local one sized to the
machine), fail in a second with one line when it cannot be reached or wants a token, check that
some node can hold a trial, and keep Ray's own console output in a log file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from pathlib import Path

from membench.errors import MembenchError
from membench.suite.trials import Suite


@contextlib.contextmanager
def capture_output(log_path: Path):
    """Send fds 1 and 2 (Ray's Python and C++ output alike) to a log; yield the real terminal,
    line-buffered, so progress written to a file or pipe (`nohup ... > log`) shows as it comes."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    try:
        with open(log_path, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved_fd in enumerate(saved, start=1):
            os.dup2(saved_fd, fd)
            os.close(saved_fd)
        terminal.close()


AUTH_HELP = (
    "the Ray cluster at {address} uses token authentication: set RAY_AUTH_MODE=token, with the "
    "cluster's token in ~/.ray/auth_token (or RAY_AUTH_TOKEN), and run again"
)


def connect(address: str | None) -> bool:
    """Join `address` (or $RAY_ADDRESS), else start a local Ray sized to the machine. Returns
    whether this call connected (and so must disconnect)."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address != "local":
        probe(address)
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except Exception as err:
        if is_auth_error(err):
            raise MembenchError(AUTH_HELP.format(address=address)) from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MembenchError(f"cannot connect to Ray at {address}: {first}") from None
    return True


def probe(address: str) -> None:
    """Fail in a second, not after Ray's 20 s of retries: nothing listening, or a token needed."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # 'auto', or a form only ray.init understands
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise MembenchError(
            f"no Ray cluster answers at {address} ({err.strerror or err}): start one with "
            "`ray start --head`, or fix --address / RAY_ADDRESS"
        ) from None
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
        return
    try:
        from ray._raylet import GcsClient  # private, so any surprise falls back to ray.init

        GcsClient(address=address)
    except Exception as err:
        if is_auth_error(err):
            raise MembenchError(AUTH_HELP.format(address=address)) from None


def cluster_line(address: str | None) -> str:
    """Which Ray this run uses, said before it trains: a cluster it joined by its address, node
    count, CPUs and GPUs (so `--address auto` never joins a stranger's Ray unannounced)."""
    import ray

    nodes = [node for node in ray.nodes() if node["Alive"]]
    cpus = sum(node["Resources"].get("CPU", 0) for node in nodes)
    gpus = sum(node["Resources"].get("GPU", 0) for node in nodes)
    size = f"{len(nodes)} node{'s' * (len(nodes) != 1)}, {cpus:g} CPUs, {gpus:g} GPUs"
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        return f"Ray: a local instance started for this run ({size})"
    where = ray.get_runtime_context().gcs_address
    return f"Ray: joined the cluster at {where} (--address {address}): {size}"


def check_fits(suite: Suite) -> None:
    """A trial that no node can hold would wait for ever in Tune's queue: say so now."""
    import ray

    need = {"CPU": suite.resources.cpu, "GPU": suite.resources.gpu}
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    if any(all(node.get(k, 0) >= v for k, v in need.items()) for node in nodes):
        return
    largest = max(nodes, key=lambda n: (n.get("GPU", 0), n.get("CPU", 0)), default={})
    raise MembenchError(
        f"{suite.path}: resources: a trial asks for {need['CPU']:g} CPU and {need['GPU']:g} GPU, "
        f"but no node of the Ray cluster has that (largest: {largest.get('CPU', 0):g} CPU, "
        f"{largest.get('GPU', 0):g} GPU): lower resources, or run on a cluster that has them"
    )


def is_auth_error(err: BaseException | None) -> bool:
    from ray.exceptions import AuthenticationError

    while err is not None:
        if isinstance(err, AuthenticationError) or "InvalidAuthToken" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False
