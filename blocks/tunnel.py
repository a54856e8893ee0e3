"""A Cloudflare tunnel (``cloudflared``) that gives the loopback Range server a public URL.

:class:`TunnelManager` runs one ``cloudflared`` process in its own process group and learns
its state from cloudflared's metrics server, never from its log lines:

* **quick** tunnel: ``cloudflared tunnel --no-autoupdate --metrics 127.0.0.1:M --url <local>``;
  ``GET /quicktunnel`` on the metrics port gives ``{"hostname": "<words>.trycloudflare.com"}``.
  The address changes whenever the process restarts.
* **named** tunnel: ``cloudflared tunnel --no-autoupdate --metrics 127.0.0.1:M run`` with the
  token in ``TUNNEL_TOKEN`` (cloudflared's own variable for ``--token``; it keeps the token off
  the process list). The token comes from a Prefect ``Secret`` block; the public hostname is
  fixed in settings (``tunnel_hostname``) and survives restarts.

Either way ``GET /ready`` must answer 200 (a connection to Cloudflare is registered) before the
tunnel counts as healthy. A named tunnel forwards to the origin of its ingress rule in
Cloudflare, so it is also given a ``self_check`` (:mod:`blocks.tunnel_canary`), run after each
start: when the public hostname does not reach this process, cloudflared is stopped (it would
take a share of another connector's requests), remote uploads stay off for this process's life,
and one warning says why. A monitor thread restarts a process that died, with exponential
backoff; :meth:`TunnelManager.stop` terminates the whole process group, then kills it.

cloudflared is optional: when it is not installed the manager logs one warning per process,
reports itself unhealthy, and uploads use multipart.
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from types import TracebackType

import httpx

from config.sections.tunnel import TunnelSettings
from core.errors import TunnelError, TunnelSelfCheckFailed
from core.logs import run_logger
from core.processes import die_with_parent
from core.runtime import current_runtime

__all__ = ["TunnelManager", "public_base_url"]

logger = run_logger("postflow.tunnel")


def public_base_url(hostname: str) -> str:
    """The public base URL for a hostname reported by cloudflared or set in settings.

    ``https://<hostname>`` as Cloudflare serves it; plain ``http://`` only for loopback
    addresses (the test stand-in). A value that already has a scheme is kept.
    """
    if hostname.startswith(("http://", "https://")):
        return hostname.rstrip("/")
    host = hostname.rsplit(":", 1)[0] if hostname.count(":") == 1 else hostname
    host = host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return f"{'http' if loopback else 'https'}://{hostname}"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class TunnelManager:
    """Run and watch one cloudflared tunnel to ``local_url`` (a context manager).

    Args:
        local_url: origin the tunnel forwards to, e.g. ``http://127.0.0.1:54321``.
        mode: ``"quick"``, ``"named"`` or ``"off"``.
        cloudflared_path: executable name or path (looked up on PATH).
        hostname: public hostname of a named tunnel.
        token: named-tunnel token, or a callable returning it (called at each start; may raise
            :class:`~core.errors.TunnelError`).
        start_timeout_seconds: how long one start waits for ``/ready``.
        restart_backoff_seconds: first delay before restarting a dead process; doubles up to
            ``max_restart_backoff_seconds``.
        max_restart_backoff_seconds: cap of the restart delay.
        health_interval_seconds: how often the monitor checks the process.
        stop_timeout_seconds: grace between SIGTERM and SIGKILL when stopping.
        unready_restart_checks: restart a running cloudflared after this many failed
            ``/ready`` checks in a row.
        self_check: called with the public base URL once cloudflared is ready, at each start;
            returns None when the URL reaches this process, else why not (one line, no
            secrets), and the tunnel is then given up for good (:meth:`disable`).
        self_check_timeout_seconds: how long ``self_check`` may take (seconds), added to the
            time :meth:`start` waits.
    """

    def __init__(
        self,
        local_url: str,
        *,
        mode: str = "quick",
        cloudflared_path: str = "cloudflared",
        hostname: str = "",
        token: str | Callable[[], str] | None = None,
        start_timeout_seconds: float = 60.0,
        restart_backoff_seconds: float = 1.0,
        max_restart_backoff_seconds: float = 30.0,
        health_interval_seconds: float = 1.0,
        stop_timeout_seconds: float = 5.0,
        unready_restart_checks: int = 10,
        self_check: Callable[[str], str | None] | None = None,
        self_check_timeout_seconds: float = 0.0,
    ) -> None:
        self.local_url = local_url
        self.mode = mode
        self.cloudflared_path = cloudflared_path
        self.hostname = hostname
        self._token = token
        self.start_timeout_seconds = start_timeout_seconds
        self.restart_backoff_seconds = restart_backoff_seconds
        self.max_restart_backoff_seconds = max_restart_backoff_seconds
        self.health_interval_seconds = health_interval_seconds
        self.stop_timeout_seconds = stop_timeout_seconds
        self.unready_restart_checks = unready_restart_checks
        self.self_check = self_check
        self.self_check_timeout_seconds = self_check_timeout_seconds
        self.restarts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._base_url: str | None = None
        self._metrics = ""
        self._reason = "not started"
        self._output: collections.deque[str] = collections.deque(maxlen=20)
        self._monitor: threading.Thread | None = None
        self._http = httpx.Client(timeout=2.0, trust_env=False)

    @classmethod
    def from_settings(
        cls,
        settings: TunnelSettings,
        local_url: str,
        self_check: Callable[[str], str | None] | None = None,
    ) -> TunnelManager:
        """A manager from ``tunnel_*`` and ``cloudflared_path``; a named tunnel's token is read
        from the Prefect ``Secret`` block named ``tunnel_token_block`` when it starts.
        ``self_check`` may take up to ``tunnel_canary_timeout_seconds``."""
        block = settings.tunnel_token_block
        return cls(
            local_url,
            mode=settings.tunnel_mode,
            cloudflared_path=settings.cloudflared_path,
            hostname=settings.tunnel_hostname,
            token=lambda: _load_token(block),
            start_timeout_seconds=settings.tunnel_start_timeout_seconds,
            self_check=self_check,
            self_check_timeout_seconds=settings.tunnel_canary_timeout_seconds,
        )

    # --- public state ------------------------------------------------------------------------
    @property
    def base_url(self) -> str | None:
        """Public base URL while the tunnel is up (e.g. ``https://x.trycloudflare.com``)."""
        with self._lock:
            return self._base_url

    @property
    def reason(self) -> str:
        """Why the tunnel is not usable ("" once it has been up), e.g. "cloudflared not on PATH"."""
        with self._lock:
            return self._reason

    @property
    def pid(self) -> int | None:
        """Process id of the running cloudflared, if any."""
        with self._lock:
            return self._proc.pid if self._proc is not None else None

    def healthy(self) -> bool:
        """True when cloudflared runs, its address is known and ``/ready`` answers 200."""
        with self._lock:
            proc, base, metrics = self._proc, self._base_url, self._metrics
        if proc is None or proc.poll() is not None or base is None:
            return False
        try:
            return self._http.get(f"http://{metrics}/ready").status_code == 200
        except (httpx.HTTPError, RuntimeError):  # RuntimeError: client closed by stop()
            return False

    def public_url(self, local_path: str) -> str:
        """The public URL of a Range-server path such as ``/f/<token>/clip.mov``.

        Raises:
            TunnelError: the tunnel is not up.
        """
        base = self.base_url
        if base is None:
            raise TunnelError(self.reason or "tunnel not ready")
        return base + (local_path if local_path.startswith("/") else f"/{local_path}")

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> TunnelManager:
        """Start cloudflared and wait (up to ``start_timeout_seconds``) until it is ready.

        Never raises for an unavailable tunnel: the reason is logged, :meth:`healthy` stays
        False and, when cloudflared is installed, the monitor keeps retrying with backoff.
        """
        problem = self._unavailable()
        if problem is not None:
            self._set_down(problem)
            if self.mode != "off":
                self._warn_once(problem)
            return self
        first_try = threading.Event()
        self._monitor = threading.Thread(
            target=self._run, args=(first_try,), name="tunnel-monitor", daemon=True
        )
        self._monitor.start()
        first_try.wait(self.start_timeout_seconds + self.self_check_timeout_seconds + 10.0)
        return self

    def disable(self, reason: str) -> None:
        """Give the tunnel up for this process's life: stop cloudflared and its monitor, keep
        :meth:`healthy` False with ``reason``, and log one warning saying why."""
        self._stop.set()
        with self._lock:
            proc, self._proc, self._base_url = self._proc, None, None
            self._reason = reason
        if proc is not None:
            self._terminate(proc)
        logger.warning("remote upload off for this process: %s", reason)

    def stop(self) -> None:
        """Stop the monitor and the cloudflared process group (SIGTERM, then SIGKILL)."""
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(self.stop_timeout_seconds + 5.0)
        with self._lock:
            proc, self._proc, self._base_url = self._proc, None, None
            self._reason = "stopped"
        if proc is not None:
            self._terminate(proc)
        self._http.close()

    def __enter__(self) -> TunnelManager:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals -----------------------------------------------------------------------------
    def _unavailable(self) -> str | None:
        if self.mode == "off":
            return "tunnel_mode=off"
        if self.mode not in ("quick", "named"):
            return f"unknown tunnel_mode {self.mode!r}"
        if shutil.which(self.cloudflared_path) is None:
            return f"cloudflared not on PATH ({self.cloudflared_path!r}); uploads use multipart"
        if self.mode == "named" and not self.hostname:
            return "named tunnel needs POSTFLOW_TUNNEL_HOSTNAME"
        return None

    def _warn_once(self, problem: str) -> None:
        if not current_runtime().first_time("tunnel-warned", problem):
            return
        logger.warning("remote upload disabled: %s", problem)

    def _set_down(self, reason: str) -> None:
        with self._lock:
            self._base_url = None
            self._reason = reason

    def _spawn_and_wait(self) -> None:
        """Start one cloudflared and wait for its hostname and ``/ready``.

        Raises:
            TunnelError: no token, the process exited, or not ready in time (it is killed).
        """
        env = dict(os.environ)
        metrics = f"127.0.0.1:{_free_port('127.0.0.1')}"
        command = [self.cloudflared_path, "tunnel", "--no-autoupdate", "--metrics", metrics]
        if self.mode == "named":
            token = self._token() if callable(self._token) else self._token
            if not token:
                raise TunnelError("no named-tunnel token")
            env["TUNNEL_TOKEN"] = token
            command.append("run")
        else:
            command += ["--url", self.local_url]
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            preexec_fn=die_with_parent(),  # a kill -9 of this process takes cloudflared too
        )
        threading.Thread(target=self._drain, args=(proc,), daemon=True).start()
        with self._lock:
            self._proc, self._metrics = proc, metrics
        try:
            base = self._wait_ready(proc, metrics)
            problem = self.self_check(base) if self.self_check is not None else None
            if self._stop.is_set():  # stop() came during the check: neither up nor given up
                raise TunnelError("stopped")
            if problem is not None:
                raise TunnelSelfCheckFailed(problem)
        except TunnelError:
            self._terminate(proc)
            raise
        with self._lock:
            self._base_url, self._reason = base, ""
        logger.info("tunnel up: %s -> %s (pid %d)", base, self.local_url, proc.pid)

    def _wait_ready(self, proc: subprocess.Popen[bytes], metrics: str) -> str:
        deadline = time.monotonic() + self.start_timeout_seconds
        hostname = self.hostname if self.mode == "named" else ""
        while not self._stop.is_set():
            code = proc.poll()
            if code is not None:
                tail = " | ".join(self._output) or "no output"
                raise TunnelError(f"cloudflared exited with code {code}: {tail}")
            try:
                if not hostname:
                    hostname = self._http.get(f"http://{metrics}/quicktunnel").json()["hostname"]
                if hostname and self._http.get(f"http://{metrics}/ready").status_code == 200:
                    return public_base_url(hostname)
            except (httpx.HTTPError, ValueError, KeyError):
                pass  # metrics server not listening yet
            if time.monotonic() > deadline:
                raise TunnelError(f"not ready after {self.start_timeout_seconds:.0f} s")
            self._stop.wait(0.1)
        raise TunnelError("stopped")

    def _ready(self, metrics: str) -> bool:
        try:
            return self._http.get(f"http://{metrics}/ready").status_code == 200
        except (httpx.HTTPError, RuntimeError):  # RuntimeError: client closed by stop()
            return False

    def _run(self, first_try: threading.Event) -> None:
        """The monitor thread: it starts cloudflared and every restart of it.

        ``PR_SET_PDEATHSIG`` (:func:`core.processes.die_with_parent`) fires when the *thread*
        that forked the child ends, so every cloudflared is forked here, by the thread that
        lives until :meth:`stop`, never by the caller's thread (which may be short-lived).
        """
        try:
            self._spawn_and_wait()
        except TunnelSelfCheckFailed as exc:
            self.disable(exc.reason)
            return
        except TunnelError as exc:
            self._set_down(exc.reason)
            logger.warning("tunnel not ready (%s); retrying in the background", exc.reason)
        finally:
            first_try.set()
        self._watch()

    def _watch(self) -> None:
        delay = self.restart_backoff_seconds
        unready = 0
        while not self._stop.wait(self.health_interval_seconds):
            with self._lock:
                proc, metrics = self._proc, self._metrics
            code = proc.poll() if proc is not None else -1
            if code is None:
                # Alive is not enough: a cloudflared that lost its edge connections answers
                # /ready 503 for good. Restart it after `unready_restart_checks` in a row.
                unready = 0 if self._ready(metrics) else unready + 1
                if unready < self.unready_restart_checks:
                    continue
                problem = f"cloudflared not ready for {unready} checks in a row"
            else:
                problem = f"cloudflared exited with code {code}"
            unready = 0
            self._set_down(problem)
            if proc is not None:
                self._terminate(proc)  # reap it and anything left in its process group
            logger.warning("%s; restarting in %.1f s", problem, delay)
            if self._stop.wait(delay):
                return
            try:
                self._spawn_and_wait()
            except TunnelSelfCheckFailed as exc:
                self.disable(exc.reason)
                return
            except TunnelError as exc:
                self._set_down(exc.reason)
                delay = min(delay * 2, self.max_restart_backoff_seconds)
                logger.warning("tunnel restart failed: %s", exc.reason)
                continue
            self.restarts += 1
            delay = self.restart_backoff_seconds

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self._output.append(line)
            logger.debug("cloudflared[%d]: %s", proc.pid, line)
        proc.stdout.close()

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        for sig, wait in ((signal.SIGTERM, self.stop_timeout_seconds), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)  # the whole group: no orphaned children
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _load_token(block_name: str) -> str:
    """Read the named-tunnel token from a Prefect ``Secret`` block.

    Raises:
        TunnelError: the block does not exist or cannot be read.
    """
    from prefect.blocks.system import Secret

    try:
        secret = Secret.load(block_name)  # a coroutine only in async code, which this is not
        if not isinstance(secret, Secret):
            raise TypeError(f"Secret.load returned {type(secret).__name__}")
        return str(secret.get())
    except Exception as exc:  # noqa: BLE001 - any load failure means "no token"
        raise TunnelError(f"cannot read Secret block {block_name!r}: {exc}") from exc
