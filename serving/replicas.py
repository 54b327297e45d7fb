"""``recsys serve BUNDLE --replicas N [--address ADDR]``: the same ASGI app as N Ray Serve replicas.

For traffic that outgrows one machine: Ray Serve's proxy takes the HTTP requests on
``--host``/``--port`` and spreads them over the replicas (actors, anywhere on the cluster), each
of which builds the app of :func:`serving.app.bundle_app` around its own copy of the bundle, with
the same routes, limits, micro-batching and answers. Each replica asks Ray for cluster CPUs / N
and uses as many torch threads. ``/metrics`` answers for the replica that serves the request
(Ray Serve exports its own request metrics for the whole deployment).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, Callable, Optional

from recsys.errors import ConfigError
from serving.app import ServiceConfig, bundle_app

APP_NAME = "recsys"


def asgi_builder(bundle: Path, cfg: ServiceConfig, threads: int) -> Callable[[], Any]:
    """The function each replica calls to build its app (:func:`serving.app.bundle_app`; nothing
    unpicklable crosses to Ray)."""
    def build() -> Any:  # a function, not a partial: Ray Serve takes any other callable for the ASGI app itself
        return bundle_app(bundle, cfg, threads)

    return build


def serve_replicas(bundle: Path, cfg: ServiceConfig, replicas: int, host: str, port: int,
                   address: Optional[str] = None) -> None:
    """Deploy ``replicas`` copies of the service on Ray Serve and block until interrupted."""
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise ConfigError(f"--replicas needs Ray Serve: pip install 'ray[serve]' ({exc})") from None

    from recsys.distributed.cluster import cpus_per_worker, ray_session

    with ray_session(address):
        threads = cpus_per_worker(replicas)
        service: Any = serve.ingress(asgi_builder(bundle.resolve(), cfg, threads))()  # a deployment class around the app
        deployment: Any = serve.deployment(service, name="ScoringService", num_replicas=replicas,
                                           ray_actor_options={"num_cpus": threads})
        previous = signal.signal(signal.SIGTERM, _interrupt)  # `docker stop` and supervisors: shut down like Ctrl-C
        serve.start(http_options={"host": host, "port": port})
        try:
            serve.run(deployment.bind(), name=APP_NAME, route_prefix="/", blocking=True)
        finally:
            signal.signal(signal.SIGTERM, previous)
            serve.shutdown()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
