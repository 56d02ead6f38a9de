"""Azure Maintenance Relay: Service Health and Resource Health alerts → which of our VMs are hit, in what state,
when in JST → Teams, Slack and email, in Japanese and English; every other Azure Monitor alert of the same Action
Group too, by severity.

Data flows one way, and so do the imports between these packages (tests/test_architecture.py holds them to it):

    model.py, text.py, runtime/   the plain data every stage passes on; text safety; process plumbing
                                  (log redaction, telemetry, leases, SQLite, Storage connection settings)
    alerts/, agent/wire.py        wire formats → Event
    routing.py                    the routing tree and the route stage: who gets which of an event's VMs
    config/                       the YAML config: receivers, routing tree, digest, Azure settings
    enrich/  render/              the stages: which VMs and in what state; the words, per channel
    hold/  remind/due.py          which deliveries wait (quiet hours, silences) and which reminders are due
    calendar/                     maintenance as iCalendar entries (a stage); calendar/feed.py reads them from
                                  the ledger (a job)
    notices/                      the relay's own notices (a parked alert, a send-test, a maintain run)
    channels/  store/  inbox/     ports and their adapters: where messages go, the ledger, the waiting alerts
    pipeline.py                   parse → dedup → enrich → route → render → deliver, around those ports
    digest/ backfill/ maintain/   jobs built on the pipeline: the daily digest, missed alerts, self-service
    provision/ auth/ agent/       maintenance, alert rules in more subscriptions, Entra ID, the VM agent,
    remind/ hold/release.py       reminders before deadlines and held messages released
    hosts/                        the Function App's root, relay serve, its worker, the queue path, wiring
    cli/                          the `relay` command: one module per command, each a composition root
"""
