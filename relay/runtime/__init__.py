"""What every process of the relay shares, whatever it hosts; no relay logic.

    redact.py       secrets never reach a log: installed before anything logs
    telemetry.py    counters for Application Insights, a no-op until set up
    leases.py       who holds a lease, and whether that process has died
    sqlite.py       the one way the embedded adapters open SQLite
    connections.py  Storage connections as the Functions host reads them: a connection string, or an
                    account with a managed identity
"""
