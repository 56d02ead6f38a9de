"""The managers' daily digest: one email a morning per digest receiver, built from the ledger.

    view.py      what one receiver's digest says: the week's decisions, maintenance in the horizon, changes
                 since its last digest, VMs by state per team or subscription, deadlines, forced reboots (pure)
    alerts.py    the Azure Monitor alerts of the last 24 hours, counted per team and severity (setting `alerts`)
    message.py   the email: text and HTML from templates/digest/, every VM as a CSV attachment
    send.py      one run: re-enrich the maintenance the ledger knows, then send each receiver its digest
                 at most once a day

Its settings (the `digest:` section) are read by relay.config.digest; the Function App's timer (00:00 UTC,
09:00 JST) is FunctionHost.digest.
"""
