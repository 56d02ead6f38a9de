"""Maintenance in the calendar: for each maintenance and receiver, an entry for the self-service deadline (the VMs
still to do) and one for Azure's scheduled window (the VMs it will reboot), as an RFC 5545 iCalendar file.

    entries.py   one maintenance as a receiver was told it → plain Entry dataclasses: stable UIDs, SEQUENCE,
                 cancelled or not (pure)
    file.py      entries → the iCalendar file (the icalendar package): TZID=Asia/Tokyo with its VTIMEZONE,
                 METHOD:PUBLISH, wording from templates/calendar/ in the receiver's languages
    feed.py      a receiver's open and recent maintenance, read from the ledger only (no Azure call), as the
                 file `GET /api/calendar.ics?receiver=NAME` and `relay calendar` give, with its ETag; the
                 digest's entries

Manager emails (relay/render/email.py) and the digest carry the same entries as a text/calendar attachment:
the same UIDs, so an update replaces the entry a calendar already holds.
"""
