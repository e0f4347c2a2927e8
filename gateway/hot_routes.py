"""The hottest routes (chat and text completions, churn's predict) served from inside the middleware
stack, past FastAPI's router and its layers.

Between the innermost of our middleware and an endpoint, FastAPI puts its `ExceptionMiddleware`, its
`AsyncExitStackMiddleware`, the router (route matching), `Route.handle` and Starlette's `request_response`
wrapper, which wraps `send` once more for its exception handling. For a request with nothing to route (an
exact method and path) that took 0.09 ms of the 0.25 ms from our request-id middleware to the LLM
endpoint, one stream at a time, and every streamed chunk passed through the extra `send` wrappers; through
the gateway under load, 1.15x the LLM requests a second at 0.86x the CPU each (bench/README.md, issue 18).

`HotRoutes` is the innermost middleware: a `POST` to exactly one of its routes' paths is served here, with
`scope["route"]` set as the router would (the metrics and tracing middleware label by it). Everything else
goes on to FastAPI unchanged, including another method on the same path (405 from the router). The routes
stay in the app's router too, for OpenAPI and for an app mounted under a root path.

Exceptions from the endpoint are rendered by the app's own handlers, as `ExceptionMiddleware` would
render them (a `GatewayError` becomes its JSON answer); one with no handler, or the handler for
`Exception`, goes on to `ServerErrorMiddleware` (500) as before.

    app.add_middleware(HotRoutes, routes=[Route("/v1/chat/completions", endpoint, methods=["POST"])])

An endpoint served here takes the `Request` and makes its own checks (the LLM routes read their body
themselves; churn's `predict_endpoint` repeats its FastAPI route's checks in the same order).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HotRoutes"]

Handler = Callable[[Request, Exception], Awaitable[Response]]


class HotRoutes:
    def __init__(self, app: ASGIApp, routes: Sequence[Route]) -> None:
        self.app = app
        self.routes: dict[tuple[str, str], Route] = {
            (method, route.path): route for route in routes for method in route.methods or ()
        }
        self._handlers: dict[type[BaseException], Handler] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get((scope.get("method", ""), scope["path"])) if scope["type"] == "http" else None
        if route is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        request = Request(scope, receive, send)
        try:
            response: Response = await route.endpoint(request)
        except Exception as exc:
            handler = self._handler_for(scope, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler_for(self, scope: Scope, exc: Exception) -> Handler | None:
        if self._handlers is None:
            self._handlers = _class_handlers(scope["app"].exception_handlers)
        for cls in type(exc).__mro__:
            handler = self._handlers.get(cls)
            if handler is not None:
                return handler
        return None


def _class_handlers(registered: Mapping[Any, Handler]) -> dict[type[BaseException], Handler]:
    # As ExceptionMiddleware: the handlers registered for an exception class, but not the one for
    # Exception (or 500), which belongs to ServerErrorMiddleware and answers after the traceback is logged.
    return {
        key: handler for key, handler in registered.items() if isinstance(key, type) and key is not Exception
    }
