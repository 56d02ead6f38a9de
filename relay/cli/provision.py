"""`relay provision`: the relay's Action Group and alert rules in more subscriptions."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relay.cli.common import EXIT_OK, EXIT_UNDELIVERED, config_of, fail, subscription_id

DESCRIPTION = """\
Sets up, in each subscription given, what makes Azure call the relay, as `azd provision` does for the
subscriptions it watches (same rule names, conditions and defaults):

  resource group        --resource-group (default rg-maintenance-relay), created in --location if missing
  Action Group          --action-group (default ag-maintenance-relay), location Global, short name
                        --short-name (at most 12 characters), one webhook receiver: --function-url, with
                        the common alert schema; with --secure-webhook, Entra-authenticated (useAadAuth)
  alert-relay-service-health       Service Health: Maintenance, Incident, Security, ActionRequired, for
                        the --service and --region names (containsAny); scope: the subscription
  alert-relay-vm-resource-health   Resource Health of VMs, Unknown excluded, platform-initiated only
                        unless --any-cause

It is idempotent: it reads what exists and writes only what is missing or differs, and says per
subscription and resource: create, update (which fields) or unchanged. --dry-run reads and prints that
plan and changes nothing. An Action Group's other receivers (email, SMS…) are kept; its webhook
receivers become the relay's only. The function URL's key (code=) is never printed.

Signs in with DefaultAzureCredential: az login, a managed identity, or the environment (AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET). Needs Monitoring Contributor on each subscription, and Contributor
(or Microsoft.Resources/subscriptions/resourceGroups/write) where the resource group must be created.
Progress on stderr; the table on stdout. Exit 0 when every subscription is done, 1 when one failed (the
table and stderr say why, and which role is missing), 2 on bad input."""

EPILOG = """\
examples:
  relay provision --subscription 0a1b2c3d-1111-2222-3333-444455556666 \\
      --function-url 'https://func-relay.azurewebsites.net/api/alerts?code=<key>' --dry-run
  relay provision --subscription <id> <id> --function-url "$URL" --region 'Japan East' --region 'Japan West'
  relay provision --subscription <id> --function-url "$URL" --all-regions --all-services --any-cause
  relay provision --subscription <id> --function-url https://func-relay.azurewebsites.net/api/alerts \\
      --secure-webhook --tenant-id <tenant> --object-id <app object id> --identifier-uri api://relay

The key in the function URL: the one the Bicep gives its Action Group is the host's default key,
  az functionapp keys list -g <group> -n <app> --query functionKeys.default -o tsv"""


def register(command) -> None:
    from relay.provision.wanted import REGIONS, SERVICES, Options

    defaults = Options(function_url="")
    p = command("provision", help="set up the Action Group and alert rules in more subscriptions",
                description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscription", nargs="+", action="extend", required=True, type=subscription_id, metavar="ID",
                   help="the subscriptions to set up (several after one flag, or repeat it)")
    p.add_argument("--function-url", required=True, metavar="URL",
                   help="the relay's https URL the Action Group calls: https://<app>.azurewebsites.net/api/alerts"
                        "?code=<function key>")
    p.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    p.add_argument("--resource-group", default=defaults.resource_group, metavar="NAME",
                   help=f"where the Action Group and rules go (default {defaults.resource_group})")
    p.add_argument("--location", default=defaults.location, metavar="REGION",
                   help=f"of a resource group created here (default {defaults.location}); the rest is Global")
    p.add_argument("--action-group", default=defaults.action_group, metavar="NAME",
                   help=f"default {defaults.action_group}")
    p.add_argument("--short-name", default=defaults.short_name, metavar="NAME",
                   help=f"the Action Group's short name, at most 12 characters (default {defaults.short_name})")
    regions = p.add_mutually_exclusive_group()
    regions.add_argument("--region", action="append", metavar="NAME",
                         help=f"a Service Health region as the portal names it (repeat for more;"
                              f" default {', '.join(REGIONS)})")
    regions.add_argument("--all-regions", action="store_true", help="every region")
    services = p.add_mutually_exclusive_group()
    services.add_argument("--service", action="append", metavar="NAME",
                          help=f"a Service Health service name (repeat for more; default {', '.join(SERVICES)})")
    services.add_argument("--all-services", action="store_true", help="every service")
    p.add_argument("--any-cause", action="store_true",
                   help="Resource Health alerts for every cause, not only platform-initiated ones")
    secure = p.add_argument_group("secure webhook (Entra authentication of the Action Group's calls)")
    secure.add_argument("--secure-webhook", action="store_true",
                        help="the Action Group signs its calls in (useAadAuth)")
    secure.add_argument("--tenant-id", metavar="GUID", help="the tenant of the app registration")
    secure.add_argument("--object-id", metavar="GUID", help="the object id of the app registration")
    secure.add_argument("--identifier-uri", metavar="URI", help="its application ID URI, like api://relay")
    p.add_argument("--config", type=Path, metavar="FILE", help="YAML config: its azure: section (arm_url, authority)")
    p.set_defaults(run=run)


def run(args) -> int:
    from relay.config import AzureSettings
    from relay.provision import provision, report
    from relay.provision.wanted import REGIONS, SERVICES, Options, SecureWebhook, problems

    aad = (args.tenant_id, args.object_id, args.identifier_uri)
    if args.secure_webhook and None in aad:
        return fail("--secure-webhook needs --tenant-id, --object-id and --identifier-uri")
    if not args.secure_webhook and any(aad):
        return fail("--tenant-id, --object-id and --identifier-uri go with --secure-webhook")
    options = Options(
        function_url=args.function_url, resource_group=args.resource_group, location=args.location,
        action_group=args.action_group, short_name=args.short_name,
        regions=() if args.all_regions else tuple(args.region or REGIONS),
        services=() if args.all_services else tuple(args.service or SERVICES),
        platform_initiated_only=not args.any_cause,
        secure=SecureWebhook(*aad) if args.secure_webhook else None,
    )
    if found := problems(options):
        for problem in found:
            print(f"relay: {problem}", file=sys.stderr)
        return fail(f"{len(found)} problem(s) in the arguments; nothing done")
    config = config_of(args)
    outcomes = provision(config.azure or AzureSettings(), options, args.subscription, dry_run=args.dry_run,
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
    sys.stdout.write(report.table(outcomes, options, args.dry_run))
    sys.stdout.flush()
    for outcome in outcomes:
        if outcome.error:
            print(f"{outcome.subscription}: {outcome.error}", file=sys.stderr)
    print(report.summary(outcomes, args.dry_run), file=sys.stderr)
    return EXIT_UNDELIVERED if any(outcome.error for outcome in outcomes) else EXIT_OK
