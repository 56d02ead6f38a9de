"""`relay agent`: runs on each VM, watches its Scheduled Events (Instance Metadata Service) and reports each
new one to the relay's POST /api/scheduled-events; optionally drains the VM and approves the event early.

Standard library only, and Python 3.8 or later: it must run on a VM with nothing but Python installed
(`python3 -m relay.agent` from a copy of this package, or `relay agent` where the relay is installed).

    imds.py     the Instance Metadata Service: the VM, its Scheduled Events, StartRequests
    intake.py   posting a report to the relay
    bounded.py  reading a JSON answer within bounds of size and depth
    wire.py     the report's JSON
    watch.py    the loop: what is new, resending with backoff, draining and approving
    main.py     the command's options
"""
