"""Holding messages back for a receiver: its quiet hours, and silences.

    quiet.py     whether a moment is in a receiver's quiet hours (JST), and when they end
    silences.py  which silence, if any, keeps a receiver's share of an event quiet
    gate.py      which deliveries go now, wait for quiet hours to end, or are silenced
    release.py   the held messages sent when their hold ends
"""
