"""The ARM emulator: the few Azure endpoints the relay calls, over HTTPS on 127.0.0.1, throttled.

    POST /{tenant}/oauth2/v2.0/token                                   Entra client credentials
    GET  /{tenant}/v2.0/.well-known/openid-configuration               OpenID discovery
    POST /providers/Microsoft.ResourceGraph/resources                  our four queries only: impacted VMs of a
         trackingId, the maintenance records of a trackingId (or maintenanceId), public IP allocations of named
         VMs, the VMs of named availability sets (all but the addresses paged, $skipToken)
    GET  [/subscriptions/{s}]/providers/Microsoft.ResourceHealth/events/{id}/impactedResources   paged, nextLink
    GET  /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/virtualMachines/{vm}[/instanceView]
    GET  …/virtualMachineScaleSets/{set}/virtualMachines?$expand=instanceView        paged, nextLink
    GET  /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values   Activity Log: the
         documented time-range $filter only (400 for any other clause), newest first, paged, nextLink
    GET  /subscriptions/{s}/providers/Microsoft.ResourceHealth/events?queryStartTime=MM/DD/YYYY   paged
    POST …/virtualMachines/{vm}/performMaintenance, …/virtualMachineScaleSets/{set}/virtualMachines/{n}/performMaintenance
         202, then GET …/locations/{l}/operations/{id} (and operationResults/{id}) until it ends: maintenance.py
    GET|PUT resource groups, Action Groups, activity log alert rules: monitor.py
    GET  /_emulator/stats                                              what happened (no auth, no throttle)

Paths match in any letter case, as ARM's do. Throttles: limits.py. Faults: `forbidden` subscriptions
answer 403 (and Resource Graph leaves them out, as it does for subscriptions one cannot read),
`hanging` ones never answer in time, `graph_missing` ones are not (yet) in Resource Graph but are in
Resource Health, `graph_down` makes Resource Graph answer 503 (`sets_down`: to the availability-set query
only, `records_down`: to the maintenance-records query only). `latency` delays every answer.

It is an aiohttp application (alongside tests/sinks' LoopbackServer, whose TestCA it uses): one
thread serves a test, or its own process serves the benchmark (`python -m tests.emulator`).
"""
from __future__ import annotations

import asyncio
import functools
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from aiohttp import web

from tests.emulator import records
from tests.emulator.estate import Estate, EstateVm, Target
from tests.emulator.limits import Bucket, GraphQuota, Limits, retry_after
from tests.emulator.maintenance import Maintenance
from tests.emulator.monitor import ROUTES as MONITOR_ROUTES
from tests.emulator.monitor import Monitor
from tests.sinks.server import TestCA

CLIENT_ID = "11111111-aaaa-4bbb-8ccc-222222222222"
CLIENT_SECRET = "emulator-client-secret"
TENANT_ID = "33333333-dddd-4eee-8fff-444444444444"
_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_VM = _SUB + r"/resourcegroups/(?P<group>[^/]+)/providers/microsoft\.compute"
_ROUTES = [  # (method, pattern on the lower-cased path, handler name, kind of call)
    ("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", "token", "token"),
    ("GET", r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration", "discovery", "openid"),
    ("POST", r"/providers/microsoft\.resourcegraph/resources", "graph", "resource graph"),
    ("GET", r"/providers/microsoft\.resourcehealth/events/(?P<tid>[^/]+)/impactedresources", "health", "tenant impacted resources"),
    ("GET", _SUB + r"/providers/microsoft\.resourcehealth/events/(?P<tid>[^/]+)/impactedresources", "health", "impacted resources"),
    ("GET", _VM + r"/virtualmachines/(?P<vm>[^/]+)/instanceview", "instance_view", "instance view"),
    ("GET", _VM + r"/virtualmachines/(?P<vm>[^/]+)", "virtual_machine", "virtual machine"),
    ("GET", _VM + r"/virtualmachinescalesets/(?P<set>[^/]+)/virtualmachines", "scale_set_vms", "scale set VMs"),
    ("GET", _SUB + r"/providers/microsoft\.insights/eventtypes/management/values", "activity_log", "activity log"),
    ("GET", _SUB + r"/providers/microsoft\.resourcehealth/events", "health_events", "health events"),
    ("POST", _VM + r"/virtualmachines/(?P<vm>[^/]+)/performmaintenance", "perform_maintenance", "perform maintenance"),
    ("POST", _VM + r"/virtualmachinescalesets/(?P<set>[^/]+)/virtualmachines/(?P<instance>[^/]+)/performmaintenance",
     "perform_maintenance", "perform maintenance"),
    ("GET", _SUB + r"/providers/microsoft\.compute/locations/(?P<location>[^/]+)/operations/(?P<op>[^/]+)",
     "operation_status", "operation status"),
    ("GET", _SUB + r"/providers/microsoft\.compute/locations/(?P<location>[^/]+)/operationresults/(?P<op>[^/]+)",
     "operation_result", "operation status"),
]
_ROUTES += MONITOR_ROUTES
# "No other syntax is allowed" besides a few `eq` clauses after the time range; the relay sends only the range.
_TIME_RANGE = re.compile(r"\s*eventTimestamp\s+ge\s+'([^']+)'\s+and\s+eventTimestamp\s+le\s+'([^']+)'\s*",
                         re.IGNORECASE)
_ADDRESSES_QUERY = ("microsoft.network/networkinterfaces", "mv-expand ipconfiguration", "and targetid in (",
                    "microsoft.network/publicipaddresses", "summarize allocations = make_set(allocation) by targetid",
                    "project id = targetid, allocations")
_SET_MEMBERS_QUERY = ("microsoft.compute/virtualmachines", "tostring(properties.availabilityset.id) in~ (",
                      "properties.extended.instanceview.powerstate.code", "project id,", "order by id asc")
_OUR_QUERY = ("servicehealthresources", "microsoft.resourcehealth/events/impactedresources", "join kind=leftouter",
              "microsoft.network/publicipaddresses", "make_set(allocation)", "project id,", "order by impactedname asc, id asc")


class ArmEmulator:
    def __init__(self, estate: Estate, *, tls: TestCA | None = None, latency: float = 0.0, limits: Limits | None = None,
                 forbidden: tuple[str, ...] = (), hanging: tuple[str, ...] = (), graph_missing: tuple[str, ...] = (),
                 graph_down: bool = False, page_size: int = 100, graph_page: int = 1000, hang_seconds: float = 30.0,
                 maintenance: Maintenance | None = None, sets_down: bool = False, records_down: bool = False):
        self.estate, self.tls, self.latency, self.limits = estate, tls or TestCA(), latency, limits or Limits()
        self.forbidden = {s.lower() for s in forbidden}
        self.hanging = {s.lower() for s in hanging}
        self.graph_missing = {s.lower() for s in graph_missing}
        self.graph_down, self.page_size, self.hang_seconds = graph_down, page_size, hang_seconds
        self.sets_down, self.records_down = sets_down, records_down
        self.graph_page = graph_page  # rows Resource Graph sends at most a page, whatever $top asks
        self.graph_tops: list[int] = []  # the $top of each query
        self.graph_queries: Counter[str] = Counter()  # Resource Graph calls by query: impacted, records, addresses, …
        self.graph_scopes: list[int] = []  # how many subscriptions each Resource Graph call named (0: none, the tenant)
        self.calls: Counter[str] = Counter()  # by kind of call
        self.refused: Counter[str] = Counter()  # 429s sent, by kind of call
        self.unhonoured = 0  # refused calls repeated before their Retry-After had passed
        self.agents: dict[str, set[str]] = {}  # User-Agent headers by kind of call
        self.queries: list[tuple[str, dict[str, str]]] = []  # (kind, query) of each Activity Log / events call
        self._tokens: dict[str, str] = {}  # access token → principal
        self._buckets: dict[tuple, Bucket] = {}
        self._graph: dict[str, GraphQuota] = {}
        self._refusals: dict[str, float] = {}  # client request id → not before
        self._snapshots: dict[str, list[dict]] = {}  # the rows of a paged query, by the id its $skipToken carries
        self._routes = [(method, re.compile(pattern + "$"), handler, kind) for method, pattern, handler, kind in _ROUTES]
        self.maintenance = maintenance or Maintenance()
        self.monitor = Monitor()
        self.url = ""

    # --- running ------------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=self.tls.server_context())
        await site.start()
        self.url = f"https://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    def __enter__(self) -> ArmEmulator:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def stats(self) -> dict:
        return {"calls": dict(self.calls), "refused": dict(self.refused), "unhonoured": self.unhonoured,
                "graph queries": dict(self.graph_queries)}

    # --- dispatch, auth, throttles, faults ----------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        path = request.path.lower().rstrip("/")
        if path == "/_emulator/stats":
            return web.json_response(self.stats())
        for method, pattern, handler, kind in self._routes:  # noqa: B007 - the match found is used after the loop
            match = pattern.match(path)
            if match and request.method == method:
                break
        else:
            return _error(404, "NotFound", f"the emulator has no {request.method} {request.path}")
        self.calls[kind] += 1
        self.agents.setdefault(kind, set()).add(request.headers.get("User-Agent", ""))
        response = await self._answer(request, match.groupdict(), handler, kind)
        if self.latency:
            await asyncio.sleep(self.latency)
        return response

    async def _answer(self, request, params: dict, handler: str, kind: str) -> web.Response:
        if handler in ("token", "discovery"):
            return await getattr(self, handler)(request, params)
        principal = self._tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
        if principal is None:
            return _error(401, "AuthenticationFailed", "no valid bearer token")
        now = time.monotonic()
        request_id = request.headers.get("x-ms-client-request-id", "")
        if now < self._refusals.get(request_id, 0.0):
            self.unhonoured += 1
        refusal, headers = self._throttle(principal, kind, params, now)
        if refusal is not None:
            self.refused[kind] += 1
            self._refusals[request_id] = now + refusal
            return _error(429, "TooManyRequests", "throttled", headers)
        sub = params.get("sub")
        if sub in self.forbidden:
            return _error(403, "AuthorizationFailed", f"no read access to subscription {sub}", headers)
        if sub in self.hanging:
            await asyncio.sleep(self.hang_seconds)
        response = await getattr(self, handler)(request, params)
        response.headers.update(headers)
        return response

    def _bucket(self, key: tuple, now: float) -> Bucket:
        if key not in self._buckets:
            self._buckets[key] = self.limits.bucket(key[0], now)
        return self._buckets[key]

    def _throttle(self, principal: str, kind: str, params: dict, now: float) -> tuple[float | None, dict]:
        """(seconds to wait, or None when admitted; headers to send)."""
        if kind == "resource graph":
            quota = self._graph.setdefault(principal, GraphQuota(self.limits.graph_queries, self.limits.graph_window))
            admitted = quota.take(now)
            return (None if admitted else quota.resets - now), quota.headers(now)
        sub = params.get("sub")
        scope = ("reads", principal, sub) if sub else ("tenant_reads", principal)
        checks = [(scope, f"x-ms-ratelimit-remaining-{'subscription' if sub else 'tenant'}-reads")]
        if kind == "perform maintenance":
            resource = params.get("vm") or f"{params.get('set')}/{params.get('instance')}"
            checks = [(("writes", principal, sub), "x-ms-ratelimit-remaining-subscription-writes"),
                      (("update_vm_subscription", sub), "Microsoft.Compute/UpdateVMSubscription"),
                      (("update_vm", sub, params["group"], resource), "Microsoft.Compute/UpdateVMResource")]
        elif kind in ("instance view", "virtual machine"):
            checks += [(("low_cost_get_subscription", sub), "Microsoft.Compute/LowCostGetSubscription"),
                       (("low_cost_get_vm", sub, params["group"], params["vm"]), "Microsoft.Compute/LowCostGetResource")]
        elif kind == "scale set VMs":
            scale_set = ("vmss_high_cost_scale_set", sub, params["group"], params["set"])
            checks += [(("vmss_high_cost_subscription", sub), "Microsoft.Compute/VMScaleSetHighCostGetSubscription"),
                       (scale_set, "Microsoft.Compute/VMScaleSetHighCostGetResource")]
        headers, compute = {}, []
        for key, name in checks:
            bucket = self._bucket(key, now)
            wait = bucket.take(now)
            if wait:
                return float(retry_after(wait)), {**headers, "Retry-After": retry_after(wait)}
            if name.startswith("x-ms-"):
                headers[name] = str(bucket.remaining())
            else:
                compute.append(f"{name};{bucket.remaining()}")
        if compute:
            headers["x-ms-ratelimit-remaining-resource"] = ",".join(compute)
        return None, headers

    # --- Entra ---------------------------------------------------------------------------------------

    async def discovery(self, request, params) -> web.Response:
        base = f"{self.url}/{params['tenant']}"
        return web.json_response({
            "issuer": f"{base}/v2.0", "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize", "jwks_uri": f"{base}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post"], "response_types_supported": ["code"],
        })

    async def token(self, request, params) -> web.Response:
        form = await request.post()
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client", "error_description": "unknown client or wrong secret"},
                                     status=401)
        token = f"emulator.{secrets.token_urlsafe(24)}"
        self._tokens[token] = str(form.get("client_id"))
        return web.json_response({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                                  "access_token": token})

    # --- Resource Graph ------------------------------------------------------------------------------

    async def graph(self, request, params) -> web.Response:
        if self.graph_down:
            return _error(503, "ServiceUnavailable", "Resource Graph is down")
        body = await request.json()
        self.graph_scopes.append(len(body.get("subscriptions") or []))
        text = " ".join(str(body.get("query", "")).lower().split())
        if records.is_query(text):
            self.graph_queries["records"] += 1
            if self.records_down:
                return _error(503, "ServiceUnavailable", "Resource Graph is down")
            return self._paged(body, lambda: self._records(text, body.get("subscriptions")))
        if "servicehealthresources" not in text and all(part in text for part in _ADDRESSES_QUERY):
            self.graph_queries["addresses"] += 1
            return self._addresses(text, body.get("subscriptions") or [])
        if "servicehealthresources" not in text and all(part in text for part in _SET_MEMBERS_QUERY):
            self.graph_queries["set members"] += 1
            if self.sets_down:
                return _error(503, "ServiceUnavailable", "Resource Graph is down")
            return self._paged(body, lambda: self._set_members(text, body.get("subscriptions") or []))
        tracking = re.search(r"/events/([a-z0-9_-]+)/impactedresources/", text)
        if not all(part in text for part in _OUR_QUERY) or tracking is None:
            return _error(400, "BadRequest", "the emulator knows only the relay's impacted-VMs query")
        self.graph_queries["impacted"] += 1
        wanted = frozenset(s.lower() for s in body["subscriptions"]) if body.get("subscriptions") else None
        found = tracking.group(1) == self.estate.tracking_id.lower()
        return self._paged(body, lambda: self._rows(wanted) if found else [])

    def _paged(self, body: dict, rows: Callable[[], list[dict]]) -> web.Response:
        """One page of a query's rows: at most $top (and graph_page), with a $skipToken while more are left. The
        rows are worked out for the first page and kept for the next ones, which its $skipToken names."""
        options = body.get("options") or {}
        top = int(options.get("$top", 100))
        if not 1 <= top <= 1000:
            return _error(400, "BadRequest", "$top must be between 1 and 1000")
        self.graph_tops.append(top)
        token = str(options.get("$skipToken") or "")
        if token:
            snapshot, _, offset = token.removeprefix("emu:").partition(":")
            kept, start = self._snapshots.get(snapshot), int(offset or 0)
            if kept is None:
                return _error(400, "BadRequest", "$skipToken: no such query")
        else:
            snapshot, kept, start = secrets.token_hex(4), rows(), 0
        end = start + min(top, self.graph_page)
        if end < len(kept):
            self._snapshots[snapshot] = kept
        else:
            self._snapshots.pop(snapshot, None)
        page = kept[start:end]
        return web.json_response({"totalRecords": len(kept), "count": len(page), "resultTruncated": "false",
                                  "data": page, **({"$skipToken": f"emu:{snapshot}:{end}"} if end < len(kept) else {})})

    def _addresses(self, text: str, subscriptions: list[str]) -> web.Response:
        """The public IP allocations of the VMs the query names, in the subscriptions it was sent to."""
        named = set(re.findall(r"'(/subscriptions/[^']+)'", text))
        readable = {s.lower() for s in subscriptions} - self.forbidden - self.graph_missing
        rows = [{"id": vm.id.lower(), "allocations": [vm.public_ip]} for vm in self.estate.vms
                if vm.id.lower() in named and vm.public_ip and not vm.scale_set and vm.subscription in readable]
        return web.json_response({"totalRecords": len(rows), "count": len(rows), "resultTruncated": "false",
                                  "data": rows})

    def _set_members(self, text: str, subscriptions: list[str]) -> list[dict]:
        """The VMs of the availability sets the query names, deallocated ones too, in the subscriptions it was
        sent to, ordered by id."""
        named = set(re.findall(r"'(/subscriptions/[^']+)'", text))
        readable = {s.lower() for s in subscriptions} - self.forbidden - self.graph_missing
        members = [vm for vm in self.estate.vms
                   if (set_id := _set_id(vm)) and set_id.lower() in named and vm.subscription in readable]
        return [{"id": vm.id, "availabilitySet": (_set_id(vm) or "").lower(), "powerState": vm.power}
                for vm in sorted(members, key=lambda vm: vm.id)]

    def _records(self, text: str, subscriptions: list[str] | None) -> list[dict]:
        """The records query's rows, in the subscriptions it was sent to that Resource Graph can read."""
        wanted = {s.lower() for s in subscriptions} if subscriptions else None
        readable = [found for found in self.estate.records() if found["subscriptionId"] not in
                    self.forbidden | self.graph_missing and (wanted is None or found["subscriptionId"] in wanted)]
        return records.rows(readable, text)

    @functools.cache  # noqa: B019 - an emulator lives as long as its test
    def _rows(self, wanted: frozenset[str] | None) -> list[dict]:
        """Every row of the query in these subscriptions (None: all readable), in the query's order."""
        hidden = self.forbidden | self.graph_missing
        return sorted(
            (self._row(target) for target in self.estate.targets()
             if target.subscription not in hidden and (wanted is None or target.subscription in wanted)),
            key=lambda row: (row["impactedName"], row["id"].lower()),
        )

    def _row(self, target: Target) -> dict:
        row = {"id": target.id, "impactedName": target.id.rsplit("/", 1)[-1], "subscriptionId": target.subscription,
               "targetType": target.type.lower(), "target": target.target}
        facts = dict.fromkeys(("vmId", "name", "resourceGroup", "location", "zones", "tags", "availabilitySet",
                               "scaleSet", "powerState", "allocations"))
        vm = target.vm
        if vm and not vm.scale_set:  # scale sets and their VMs are not VMs in `resources`
            facts.update(vmId=vm.id, name=vm.name, resourceGroup=vm.resource_group, location=vm.location,
                         zones=vm.zones or None, tags=vm.tags, availabilitySet=_set_id(vm) or "", scaleSet="",
                         powerState=vm.power, allocations=[vm.public_ip] if vm.public_ip else None)
        return {**row, **facts}

    # --- Resource Health -----------------------------------------------------------------------------

    async def health(self, request, params) -> web.Response:
        sub = params.get("sub")
        items = [
            {"id": target.id, "name": target.id.rsplit("/", 1)[-1],
             "type": "Microsoft.ResourceHealth/events/impactedResources",
             "properties": {"targetRegion": "japaneast", "targetResourceId": target.target, "info": [],
                            "targetResourceType": target.type.replace("virtualMachines", "VirtualMachines")}}
            for target in self.estate.targets()
            if params["tid"] == self.estate.tracking_id.lower() and (sub is None or target.subscription == sub)
            and target.subscription not in self.forbidden
        ]
        return self._page(request, items)

    # --- Service Health news -------------------------------------------------------------------------

    async def activity_log(self, request, params) -> web.Response:
        self.queries.append(("activity log", dict(request.query)))
        match = _TIME_RANGE.fullmatch(request.query.get("$filter", ""))
        if match is None:
            return _error(400, "BadRequest", "$filter: the emulator serves eventTimestamp ge '…' and eventTimestamp"
                                             " le '…' only")
        try:
            start, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in match.groups())
        except ValueError:
            return _error(400, "BadRequest", "$filter: eventTimestamp must be an ISO 8601 time")
        return self._page(request, self.estate.activity_between(params["sub"], start, end))

    async def health_events(self, request, params) -> web.Response:
        self.queries.append(("health events", dict(request.query)))
        if "$filter" in request.query:
            return _error(400, "BadRequest", "the emulator serves no $filter on events")
        since = self.estate.now - timedelta(days=3)  # the documented default
        if "queryStartTime" in request.query:
            try:
                since = datetime.strptime(request.query["queryStartTime"], "%m/%d/%Y").replace(tzinfo=UTC)
            except ValueError:
                return _error(400, "BadRequest", "queryStartTime: a day as MM/DD/YYYY")
        return self._page(request, self.estate.events_since(params["sub"], since))

    # --- Compute -------------------------------------------------------------------------------------

    async def instance_view(self, request, params) -> web.Response:
        vm = self._vm(params)
        return web.json_response(_view(vm)) if vm else _error(404, "ResourceNotFound", "no such VM")

    async def virtual_machine(self, request, params) -> web.Response:
        vm = self._vm(params)
        if vm is None:
            return _error(404, "ResourceNotFound", "no such VM")
        properties = {"vmId": vm.name, "provisioningState": "Succeeded"}
        if _set_id(vm):
            properties["availabilitySet"] = {"id": _set_id(vm)}
        if request.query.get("$expand", "").lower() == "instanceview":
            properties["instanceView"] = _view(vm)
        return web.json_response({"id": vm.id, "name": vm.name, "type": "Microsoft.Compute/virtualMachines",
                                  "location": vm.location, "tags": vm.tags, "properties": properties,
                                  **({"zones": vm.zones} if vm.zones else {})})

    async def scale_set_vms(self, request, params) -> web.Response:
        scale_set = f"/subscriptions/{params['sub']}/resourcegroups/{params['group']}/providers/microsoft.compute" \
                    f"/virtualmachinescalesets/{params['set']}"
        expand = request.query.get("$expand", "").lower() == "instanceview"
        items = [
            {"id": vm.id, "name": vm.name, "instanceId": vm.instance_id, "location": vm.location, "tags": vm.tags,
             "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
             "properties": {"provisioningState": "Succeeded", **({"instanceView": _view(vm)} if expand else {})},
             **({"zones": vm.zones} if vm.zones else {})}
            for vm in self.estate.scale_set_vms(scale_set)
        ]
        return self._page(request, items)

    async def perform_maintenance(self, request, params) -> web.Response:
        if "instance" in params:
            vm = self.estate.vm(f"/subscriptions/{params['sub']}/resourcegroups/{params['group']}/providers"
                                f"/microsoft.compute/virtualmachinescalesets/{params['set']}/virtualmachines"
                                f"/{params['instance']}")
        else:
            vm = self._vm(params)
        if vm is None:
            return _error(404, "ResourceNotFound", "no such VM")
        operation = self.maintenance.start(vm, time.monotonic())
        base = f"{self.url}/subscriptions/{vm.subscription}/providers/Microsoft.Compute/locations/{vm.location}"
        return web.Response(status=202, headers={
            "Azure-AsyncOperation": f"{base}/operations/{operation.id}?api-version=2026-04-01",
            "Location": f"{base}/operationResults/{operation.id}?api-version=2026-04-01", "Retry-After": "1"})

    async def operation_status(self, request, params) -> web.Response:
        status = self.maintenance.status(params["op"], time.monotonic())
        if status is None:
            return _error(404, "ResourceNotFound", "no such operation")
        return web.json_response(status, headers={"Retry-After": "1"} if status["status"] == "InProgress" else {})

    async def operation_result(self, request, params) -> web.Response:
        status = self.maintenance.status(params["op"], time.monotonic())
        if status is None:
            return _error(404, "ResourceNotFound", "no such operation")
        if status["status"] == "InProgress":
            return web.Response(status=202, headers={"Retry-After": "1", "Location": str(request.url)})
        if status["status"] == "Failed":
            return web.json_response({"error": status["error"]}, status=409)
        return web.Response(status=200)

    async def monitor_call(self, request, params) -> web.Response:
        body = await request.json() if request.method == "PUT" and request.can_read_body else None
        status, answer = self.monitor.answer(request.method, request.path, params, dict(request.query), body)
        return web.json_response(answer, status=status)

    def _vm(self, params) -> EstateVm | None:
        vm = self.estate.vm(f"/subscriptions/{params['sub']}/resourcegroups/{params['group']}"
                            f"/providers/microsoft.compute/virtualmachines/{params['vm']}")
        return vm if vm and not vm.scale_set else None

    def _page(self, request, items: list[dict]) -> web.Response:
        start = int(request.query.get("$skiptoken", "0"))
        page = items[start:start + self.page_size]
        body: dict = {"value": page}
        if start + self.page_size < len(items):
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(start + self.page_size)
            body["nextLink"] = f"{self.url}{request.path}?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        return web.json_response(body)


def _view(vm: EstateVm) -> dict:
    view = {"computerName": vm.name, "statuses": [
        {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"},
        {"code": vm.power, "level": "Info", "displayStatus": "VM " + vm.power.rsplit("/", 1)[-1]},
    ]}
    if vm.redeploy is not None:
        view["maintenanceRedeployStatus"] = vm.redeploy
    if vm.update_domain is not None:
        view["platformUpdateDomain"] = vm.update_domain
    return view


def _set_id(vm: EstateVm) -> str | None:
    if not vm.availability_set:
        return None
    return f"/subscriptions/{vm.subscription}/resourceGroups/{vm.resource_group}" \
           f"/providers/Microsoft.Compute/availabilitySets/{vm.availability_set}"


def _error(status: int, code: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)
