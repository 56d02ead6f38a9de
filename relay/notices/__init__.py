"""The relay's own notices: events of kind RELAY that carry what happened as data (relay.model's
ParkedAlert, ConnectionTest, SelfServiceRun), worded at render time by templates/notices/.

    parked.py           an accepted alert the relay gave up on
    connection_test.py  the message of `relay send-test`

The notices of `relay maintain start` are built by relay.maintain.notice, beside the run they describe.
"""
