"""One Functions blueprint per trigger. Each module's `blueprint(host)` binds its trigger to one method of
relay.hosts.function.FunctionHost and maps the result to what the Functions host expects; nothing else.

    ingest.py    POST /api/alerts, POST /api/scheduled-events   → 202 | 400 | 401 | 403 | 413 | 503
    calendar.py  GET /api/calendar.ics?receiver=NAME             → 200 | 304 | 400 | 404
    process.py   the Storage Queue trigger that relays each kept alert
    poison.py    every 15 minutes: announce what the host parked with nobody told
    backfill.py  every 15 minutes: the alerts Azure has and the relay never got
    digest.py    00:00 UTC (09:00 JST): the managers' digest
    timer.py     what the three timers share
"""
