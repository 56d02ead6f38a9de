"""Self-service maintenance of many VMs at once (`relay maintain start`).

    plan.py     which VMs to start and in which waves: pure, no I/O
    find.py     the VMs named by id, with their status, from Azure
    execute.py  performMaintenance wave by wave, paced, each operation followed to its end
    notice.py   the started and finished notices, through the pipeline into the event's thread

What the command prints (the plan, the result table) is relay.cli.maintain_report.
"""
