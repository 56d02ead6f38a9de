"""Resource groups, Action Groups and activity log alert rules in the emulator: what `relay provision` reads
and writes. A PUT is validated as ARM validates these, stored, and echoed back as ARM answers (id, name, type,
the receiver lists left empty); a GET answers what is stored, or 404.

    GET|PUT /subscriptions/{s}/resourcegroups/{g}
    GET|PUT /subscriptions/{s}/resourcegroups/{g}/providers/microsoft.insights/actiongroups/{name}
    GET|PUT /subscriptions/{s}/resourcegroups/{g}/providers/microsoft.insights/activitylogalerts/{name}

Validated: an api-version; the resource group exists; location Global; an Action Group's short name
(1 to 12 characters) and its webhook receivers (name, serviceUri, the three Entra fields with useAadAuth);
a rule's conditions (known fields, one of equals / containsAny / anyOf), its Action Groups exist, and a
Service Health rule's scope is exactly its own subscription. `puts` records every PUT that was accepted.
An Action Group with a secure webhook for an app registration in `not_owner_of` (object ids) is refused
with 403: Microsoft asks the identity that creates or changes one to be an owner of the registration.
"""
from __future__ import annotations

import copy
import re

_GROUP = r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<group>[^/]+)"
_INSIGHTS = _GROUP + r"/providers/microsoft\.insights"
ROUTES = [  # as server._ROUTES; every one answered by ArmEmulator.monitor_call
    ("GET", _GROUP, "monitor_call", "resource group"),
    ("PUT", _GROUP, "monitor_call", "put resource group"),
    ("GET", _INSIGHTS + r"/actiongroups/(?P<action_group>[^/]+)", "monitor_call", "action group"),
    ("PUT", _INSIGHTS + r"/actiongroups/(?P<action_group>[^/]+)", "monitor_call", "put action group"),
    ("GET", _INSIGHTS + r"/activitylogalerts/(?P<alert>[^/]+)", "monitor_call", "activity log alert"),
    ("PUT", _INSIGHTS + r"/activitylogalerts/(?P<alert>[^/]+)", "monitor_call", "put activity log alert"),
]
_RECEIVER_LISTS = ("emailReceivers", "smsReceivers", "webhookReceivers", "itsmReceivers", "azureAppPushReceivers",
                   "automationRunbookReceivers", "voiceReceivers", "logicAppReceivers", "azureFunctionReceivers",
                   "armRoleReceivers", "eventHubReceivers")
_FIELDS = {"resourceid", "category", "caller", "level", "operationname", "resourcegroup", "resourceprovider", "status",
           "substatus", "resourcetype"}
_GUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)


class Monitor:
    def __init__(self):
        self.resources: dict[str, dict] = {}  # lower-cased id → what GET answers
        self.puts: list[str] = []  # ids, in the order they were written
        self.not_owner_of: set[str] = set()  # object ids of app registrations the caller does not own

    def answer(self, method: str, path: str, params: dict, query: dict, body: dict | None) -> tuple[int, dict]:
        """(status, JSON body) of one call; `path` as sent (names keep their case), `params` from ROUTES."""
        if not query.get("api-version"):
            return _error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        resource_id = path.rstrip("/")
        group_id = f"/subscriptions/{params['sub']}/resourceGroups/{resource_id.split('/')[4]}"
        kind = "actionGroups" if "action_group" in params else "activityLogAlerts" if "alert" in params else None
        if kind and group_id.lower() not in self.resources:
            group = group_id.rsplit("/", 1)[-1]
            return _error(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        if method == "GET":
            found = self.resources.get(resource_id.lower())
            if found is None:
                return _error(404, "ResourceNotFound", "The resource was not found.")
            return 200, copy.deepcopy(found)
        if not isinstance(body, dict):
            return _error(400, "InvalidRequestContent", "The request content is not a JSON object.")
        if kind is None:
            return self._put(group_id, "Microsoft.Resources/resourceGroups", body, _group_problem(body))
        if kind == "actionGroups" and (unowned := self._unowned_app(body)):
            return _error(403, "AuthorizationFailed", f"The client does not own the app registration '{unowned}' of"
                                                      " a secure webhook receiver.")
        problem = _action_group_problem(body) if kind == "actionGroups" else self._rule_problem(params["sub"], body)
        return self._put(resource_id, f"Microsoft.Insights/{kind}", body, problem)

    def _put(self, resource_id: str, kind: str, body: dict, problem: str | None) -> tuple[int, dict]:
        if problem:
            return _error(400, "BadRequest", problem)
        stored = {"id": resource_id, "name": resource_id.rsplit("/", 1)[-1], "type": kind,
                  **{k: copy.deepcopy(v) for k, v in body.items() if k in ("location", "tags", "properties")}}
        if kind == "Microsoft.Resources/resourceGroups":
            stored["properties"] = {"provisioningState": "Succeeded"}
        elif kind.endswith("actionGroups"):
            properties = stored["properties"]
            for name in _RECEIVER_LISTS:
                properties.setdefault(name, [])
            for receiver in properties["webhookReceivers"]:
                receiver.setdefault("useAadAuth", False)
        else:
            for action in stored["properties"]["actions"]["actionGroups"]:
                action.setdefault("webhookProperties", {})
        created = resource_id.lower() not in self.resources
        self.resources[resource_id.lower()] = stored
        self.puts.append(resource_id)
        return (201 if created else 200), copy.deepcopy(stored)

    def _unowned_app(self, body: dict) -> str | None:
        for receiver in (body.get("properties") or {}).get("webhookReceivers") or []:
            if receiver.get("useAadAuth") and str(receiver.get("objectId", "")).lower() in self.not_owner_of:
                return str(receiver["objectId"])
        return None

    def _rule_problem(self, subscription: str, body: dict) -> str | None:
        properties = body.get("properties") or {}
        if str(body.get("location", "")).lower() != "global":
            return "Activity log alert rules of this kind can only be created in the 'Global' location."
        scopes = properties.get("scopes") or []
        if not scopes:
            return "properties.scopes must include at least one item."
        for scope in scopes:
            if not str(scope).lower().startswith(f"/subscriptions/{subscription}".lower()):
                return f"Scope '{scope}' is not in the subscription of the rule."
        conditions = (properties.get("condition") or {}).get("allOf") or []
        if not conditions:
            return "properties.condition.allOf must include at least one condition."
        for condition in conditions:
            if problem := _condition_problem(condition, nested=False):
                return problem
        categories = {str(c.get("equals", "")).lower() for c in conditions if str(c.get("field")).lower() == "category"}
        if "servicehealth" in categories and [s.lower() for s in scopes] != [f"/subscriptions/{subscription}".lower()]:
            return "The scopes of a Service Health alert rule must be exactly the subscription it is created in."
        actions = (properties.get("actions") or {}).get("actionGroups") or []
        for action in actions:
            if str(action.get("actionGroupId", "")).lower() not in self.resources:
                return f"Action group '{action.get('actionGroupId')}' was not found."
        return None


def _group_problem(body: dict) -> str | None:
    return None if body.get("location") else "The location of a resource group is required."


def _action_group_problem(body: dict) -> str | None:
    properties = body.get("properties") or {}
    if str(body.get("location", "")).lower() != "global":
        return "An action group called by Service Health alerts must be in the 'Global' location."
    short = properties.get("groupShortName") or ""
    if not 1 <= len(short) <= 12:
        return f"groupShortName must be 1 to 12 characters long, not {len(short)}."
    if not isinstance(properties.get("enabled"), bool):
        return "properties.enabled is required."
    names = set()
    for receiver in properties.get("webhookReceivers") or []:
        if not receiver.get("name") or not receiver.get("serviceUri"):
            return "A webhook receiver needs a name and a serviceUri."
        if receiver["name"].lower() in names:
            return f"Receiver name '{receiver['name']}' is used twice."
        names.add(receiver["name"].lower())
        if receiver.get("useAadAuth") and not (_GUID.fullmatch(str(receiver.get("tenantId", "")))
                                               and _GUID.fullmatch(str(receiver.get("objectId", "")))
                                               and receiver.get("identifierUri")):
            return "A secure webhook (useAadAuth) needs tenantId, objectId and identifierUri."
    return None


def _condition_problem(condition: dict, nested: bool) -> str | None:
    if "anyOf" in condition and condition["anyOf"] is not None:
        if nested or set(condition) - {"anyOf"}:
            return "anyOf cannot be nested or combined with field, equals or containsAny."
        for leaf in condition["anyOf"]:
            if problem := _condition_problem(leaf, nested=True):
                return problem
        return None
    field = str(condition.get("field", ""))
    if field.lower() not in _FIELDS and not field.lower().startswith("properties."):
        return f"'{field}' is not a field an activity log alert can test."
    if ("equals" in condition) == ("containsAny" in condition):
        return f"The condition on '{field}' needs equals or containsAny, not both."
    if "containsAny" in condition and not (isinstance(condition["containsAny"], list) and condition["containsAny"]):
        return f"containsAny on '{field}' must be a non-empty list."
    return None


def _error(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"error": {"code": code, "message": message}}
