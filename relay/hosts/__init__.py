"""The hosts: where alerts come in and who runs the pipeline. Each host builds its collaborators once and
hands them down; nothing below this package builds its own.

    function.py  the Function App's composition root (FunctionHost): what every trigger needs, built once
    wiring.py    builds a Relay and an inbox from the config and the environment; used only by the roots
                 (function.py and the commands in relay.cli)
    settings.py  the Function App's config, as RELAY_CONFIG names it
    intake.py    one webhook call → 202 | 400 | 401 | 403 | 413 | 503, the same for the Function and serve
    inline.py    relaying at once inside the call, where no queue holds the alert
    queue.py     the queue trigger's try: relay, retry, or park on the last try
    serve.py     `relay serve`: the HTTP intake on a laptop, with its workers
    worker.py    relay serve's worker: inbox → pipeline, retried as relay.inbox.retry says, then parked
    parked.py    telling the operations receivers about alerts given up on
"""
