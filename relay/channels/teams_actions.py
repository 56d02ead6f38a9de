"""What the Teams bot's card buttons (Action.Execute) say, shared by the card that carries them
(relay.channels.teams_bot) and the endpoint that answers them (relay.hosts.messages, POST /api/messages).

A button's `data` names what it is about, so the endpoint needs nothing else to find it:

    {"type": "Action.Execute", "verb": VERB_ACK, "title": "対応します / I'm on it",
     "data": {DATA_THREAD: <the event's thread key>, DATA_RECEIVER: <the receiver's name>}}
    {"type": "Action.Execute", "verb": VERB_START, "title": "…",
     "data": {DATA_THREAD: …, DATA_RECEIVER: …, DATA_VM: <the VM's resource id>}}

A bot receiver (`via: bot`) carries the bot's Microsoft App ID in its options under APP_ID.
"""
from __future__ import annotations

from relay.model import Receiver

VERB_ACK = "ack"  # 対応します / I'm on it: who pressed it is kept in the ledger (Ledger.acknowledge)
VERB_START = "start"  # start a VM's self-service maintenance: asks to confirm first
VERB_START_CONFIRM = "start_confirm"  # the confirmation's 開始する / Start: the same data as VERB_START's
VERB_START_CANCEL = "start_cancel"  # the confirmation's キャンセル / Cancel

DATA_THREAD = "thread"  # the event's thread key (relay.model.Event.thread_key)
DATA_RECEIVER = "receiver"  # the name of the receiver whose card it is
DATA_VM = "vm"  # VERB_START: the VM's Azure resource id

APP_ID = "app_id"  # Receiver.options key: the bot's Microsoft App ID; a receiver with one is a bot receiver


def bot_app_id(receiver: Receiver) -> str:
    """The bot's Microsoft App ID of a bot receiver; "" for any other receiver."""
    return receiver.options.get(APP_ID, "").strip()
