"""Self-service maintenance of many VMs at once (`relay maintain start`), and of one VM from a Teams card.

    plan.py        which VMs to start and in which waves: pure, no I/O
    find.py        the VMs named by id, with their status, from Azure
    execute.py     performMaintenance wave by wave, paced, each operation followed to its end
    notice.py      the started and finished notices, through the pipeline into the event's thread
    run.py         what starting does, shared by the command and the card: find, plan, tell, execute, tell
    allowed.py     who may start a VM from a Teams card: the config's teams_actions rules and the user's groups
    member_groups.py  which of the rules' Entra groups a Teams user is in: Microsoft Graph, as the relay
    from_teams.py  a card's Start maintenance: confirm, check the user's groups, start, answer

What the command prints (the plan, the result table) is relay.cli.maintain_report.
"""
