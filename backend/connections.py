"""Slow and idle clients cannot hold the server's connections.

uvicorn waits for a request's headers and body for as long as a client keeps the
connection open, and accepts every connection: 1,100 clients sending one byte now and
then used up a 1,024 open-file limit and shut every other client out. Here:

- the headers of each request must be complete within ``header_timeout_s`` of the
  connection opening or of the previous answer, else the connection is closed;
- a request's body must be complete within ``body_timeout_s`` of the app's first read,
  else it is answered 408 with a reason (and the connection closed);
- connections beyond ``max_connections`` are closed as soon as they are accepted, so
  the server keeps file descriptors for its own files.
"""

import asyncio
from collections.abc import Callable

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from backend.errors import ServiceError
from backend.settings import Settings


class SlowRequest(ServiceError):
    """A body that did not arrive in time (HTTP 408); the connection is not reused."""

    status = 408

    @property
    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


def server_options(settings: Settings) -> dict:
    """uvicorn's options for the server's connection settings."""
    return {
        "http": guarded_protocol(settings.header_timeout_s, settings.max_connections),
        "timeout_keep_alive": settings.keep_alive_s,
    }


def guarded_protocol(header_timeout_s: float, max_connections: int, base=AutoHTTPProtocol):
    """uvicorn's HTTP protocol with a header deadline and a connection bound."""

    class GuardedProtocol(base):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:  # this one included
                transport.close()
                return
            self._await_headers()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._await_headers()  # of the next request on this connection

        def connection_lost(self, exc) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

        def _await_headers(self) -> None:
            """Close the connection unless a new request's headers are complete (a new
            request cycle has begun) within the deadline."""
            answered = self.cycle

            def expire() -> None:
                if self.cycle is answered and not self.transport.is_closing():
                    self.transport.close()

            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = self.loop.call_later(header_timeout_s, expire)

    return GuardedProtocol


class BodyDeadline:
    """ASGI middleware: a request's body must arrive within ``seconds()`` of the app's
    first read of it; a late one raises SlowRequest in the route that reads it."""

    def __init__(self, app, seconds: Callable[[], float]):
        self.app, self.seconds = app, seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, deadline, complete = self.seconds(), None, False
        loop = asyncio.get_running_loop()

        async def timed_receive():
            nonlocal deadline, complete
            if complete:  # after the body: waiting for a disconnect is not bounded
                return await receive()
            deadline = deadline or loop.time() + limit
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                raise SlowRequest(f"the request body did not arrive within {limit:g} s") from None
            complete = message["type"] != "http.request" or not message.get("more_body")
            return message

        await self.app(scope, timed_receive, send)
