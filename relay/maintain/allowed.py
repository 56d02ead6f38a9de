"""Who may start a VM's maintenance from a Teams card: the config's rules (relay.config.actions), a user's Entra
groups and the VM's place. Plain functions, no I/O: the groups are asked of Microsoft Graph by the caller
(relay.maintain.from_teams).

A rule lets the members of its group start the VMs of its subscriptions and/or resource groups; a user may start a
VM when any rule of a group they are in covers it. No rule: nobody may.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from relay.config.actions import StartRule
from relay.model import Vm


class Refusal(StrEnum):
    """Why a start from Teams is refused. The value is the reason in plain words, as the log says it; `key` is
    what the notice and the card word it by (templates/notices/maintain.j2, templates/teams/action.j2)."""

    NOBODY = "no Entra group may start maintenance from Teams: the config's teams_actions.start_maintenance lists none"
    NOT_IN_GROUP = "not a member of any Entra group that may start maintenance from Teams"
    OUTSIDE_SCOPE = "the VM is outside the subscriptions and resource groups that the user's groups may start"
    GRAPH = "Microsoft Graph could not be asked which groups the user is in"
    NOT_STARTABLE = "the VM is no longer in Start now or Retry now"
    AZURE = "Azure refused to start it"
    NOT_A_VM = "the button names no VM"

    @property
    def key(self) -> str:
        return self.name.lower()


def may_start(user_groups: set[str] | frozenset[str], vm: Vm, rules: Sequence[StartRule]) -> Refusal | None:
    """None when one of the user's groups may start this VM's maintenance; else why not, in plain words (a
    Refusal: a str)."""
    if not rules:
        return Refusal.NOBODY
    theirs = [rule for rule in rules if rule.group.lower() in _lower(user_groups)]
    if not theirs:
        return Refusal.NOT_IN_GROUP
    if any(rule.covers(vm.subscription_id, vm.resource_group) for rule in theirs):
        return None
    return Refusal.OUTSIDE_SCOPE


def _lower(ids: Iterable[str]) -> set[str]:
    return {i.strip().lower() for i in ids}
