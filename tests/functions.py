"""The Function App as the Functions host runs it: built from app settings, its functions called with
azure.functions request, message and timer objects."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import azure.functions as func

from relay.hosts.function import FunctionHost


class FunctionApp:
    """`app["ingest"](request)` calls a function as the host would; `app.host` holds what it was built with."""

    def __init__(self, environ: Mapping[str, str]):
        from function_app import build_app

        self.host = FunctionHost(environ)
        self.functions: dict[str, Callable] = {
            f.get_function_name(): f.get_user_function() for f in build_app(self.host).get_functions()}

    def __getitem__(self, name: str) -> Callable:
        return self.functions[name]

    def post(self, body: bytes, route: str = "alerts", name: str = "ingest", **headers: str) -> func.HttpResponse:
        request = func.HttpRequest(method="POST", url=f"/api/{route}", body=body,
                                   headers={"content-type": "application/json", **headers})
        return self.functions[name](request)

    def close(self) -> None:
        if "relay" in vars(self.host):
            self.host.relay.ledger.close()
