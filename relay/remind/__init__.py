"""Reminders between Azure's notices: the relay follows each open maintenance until every VM is done.

    due.py   which reminder, if any, a receiver's share of an event is due now (pure)
    send.py  one pass (the Function's timer every 15 minutes, `relay remind`): held messages whose hold ended
             are released (relay.hold.release), then each open maintenance is read again and each due reminder
             is sent once, in the receiver's quiet hours only when urgent

Its settings are the config's `reminders:` (relay.config.followup).
"""
