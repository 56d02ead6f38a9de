"""Which of the groups `teams_actions` names a Teams user is in: Microsoft Graph's checkMemberGroups, asked with
the relay's own identity (POST {graph_url}/v1.0/users/{id}/checkMemberGroups, 20 groups a request, nested groups
counting). The app needs the application permissions User.Read.All and GroupMember.Read.All, or Directory.Read.All,
with admin consent (learn.microsoft.com/graph/api/directoryobject-checkmembergroups)."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from relay.channels import http
from relay.channels.graph import TokenFailure, tokens_from
from relay.config.actions import PUBLIC_GRAPH, TeamsActions
from relay.config.checks import GUID

GRAPH_TIMEOUT_SECONDS = 5.0
GRAPH_GROUPS_A_CALL = 20  # checkMemberGroups takes at most 20 group ids a request


class GraphUnavailable(Exception):
    """Graph could not tell a user's groups; `detail` says why (never a token)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


_GRAPH_HINTS = {
    401: "Graph refused the token; check the tenant and the app registration",
    403: "Graph denied reading group memberships; the app needs the application permissions User.Read.All and"
         " GroupMember.Read.All (or Directory.Read.All), with admin consent",
    404: "Graph does not know this user in the relay's tenant",
}


class MemberGroups:
    """`member_groups(user_id, group_ids)`: the ones of `group_ids` the user is a member of, directly or through
    nested groups (POST {graph_url}/v1.0/users/{id}/checkMemberGroups). `tokens` gives app-only Graph tokens
    (relay.channels.graph: MsalTokens or ManagedIdentityTokens). Raises GraphUnavailable."""

    def __init__(self, tokens, graph_url: str = PUBLIC_GRAPH, timeout: float = GRAPH_TIMEOUT_SECONDS):
        self.tokens, self.graph_url, self.timeout = tokens, graph_url.rstrip("/"), timeout

    def __call__(self, user_id: str, group_ids: Sequence[str]) -> set[str]:
        if not GUID.match(user_id.strip()):
            raise GraphUnavailable("the press names no Entra object id")
        try:
            token = self.tokens.token()
        except TokenFailure as e:
            raise GraphUnavailable(e.detail) from None
        url = f"{self.graph_url}/v1.0/users/{quote(user_id.strip(), safe='')}/checkMemberGroups"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        ids = list(dict.fromkeys(g.strip().lower() for g in group_ids))
        found: set[str] = set()
        for start in range(0, len(ids), GRAPH_GROUPS_A_CALL):
            body = json.dumps({"groupIds": ids[start:start + GRAPH_GROUPS_A_CALL]}).encode()
            try:
                response = http.post(url, body, headers, timeout=self.timeout)
            except http.NETWORK_ERRORS as e:
                raise GraphUnavailable(f"Graph unreachable ({type(e).__name__})") from None
            if response.status != 200:
                code = http.error_code(response.body, (token,))
                hint = _GRAPH_HINTS.get(response.status)
                raise GraphUnavailable(f"Graph answered HTTP {response.status}" + (f" {code}" if code else "")
                                       + (f"; {hint}" if hint else ""))
            try:
                value = json.loads(response.body)["value"]
                found |= {str(g).lower() for g in value}
            except (ValueError, TypeError, LookupError):
                raise GraphUnavailable("Graph's answer is not a list of group ids") from None
        return found


def member_groups(actions: TeamsActions, environ: Mapping[str, str], authority: str | None = None) -> MemberGroups:
    """The Graph client for the config's teams_actions, signed in as the relay (relay.channels.graph.tokens_from:
    AZURE_TENANT_ID + AZURE_CLIENT_ID + a secret or a certificate, else the managed identity). `authority`: a
    national cloud's Entra ID (None: the public one)."""
    return MemberGroups(tokens_from(environ, actions.graph_url, authority, "teams_actions"), actions.graph_url)
