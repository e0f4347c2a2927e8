"""Running the simulator under uvicorn: in the foreground for the CLI, or in a thread for tests and benches.

Both use uvloop + httptools with the access log off, on a socket bound before uvicorn starts (so port 0
picks a free port with no race, and a busy port is reported before anything else happens):

    with SimServer(SimConfig(ttft_ms=1, itl_ms=1)) as sim:
        client = openai.OpenAI(base_url=sim.base_url + "/v1", api_key="unused")
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from adapters.vllm.sim.app import SimApp, create_sim_app
from adapters.vllm.sim.config import SimConfig

__all__ = ["SimServer", "bind_socket", "uvicorn_server"]

# Long enough for in-flight streams to finish at the usual test timings; after it, hung requests are
# cancelled rather than keeping the process alive.
GRACEFUL_SHUTDOWN_S = 3


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port). Raises OSError when it cannot bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_server(app: SimApp, log_level: str = "warning") -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        # No proxy in front of the simulator; skipping the X-Forwarded-* middleware saves a wrapper call.
        proxy_headers=False,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # The simulator stands in for a server behind a gateway that keeps connections open.
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


class SimServer:
    """The simulator on 127.0.0.1 (by default) in a background thread, for the length of a `with`."""

    def __init__(self, config: SimConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = create_sim_app(config)
        self._sock = bind_socket(host, port)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self._server = uvicorn_server(self.app)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="vllm-sim", daemon=True
        )

    @property
    def base_url(self) -> str:
        """http://host:port, without /v1."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._sock.close()
                raise RuntimeError("vllm-sim did not start")
            time.sleep(0.01)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()

    def __enter__(self) -> SimServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
