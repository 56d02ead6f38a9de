"""The intent of infra/ read from pycep-parser's parse tree, offline: no Bicep CLI, no Azure.

What matters for the relay: no shared keys on storage, a Global Action Group that calls `ingest` with the
common alert schema, the alert rule conditions, every receiver secret a Key Vault reference, Python 3.11.
pycep-parser comes from requirements-infra.txt; the tests are skipped when it is not installed.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
import yaml

pycep = pytest.importorskip(
    "pycep", reason="pycep-parser is not installed (pip install -r requirements-infra.txt, or make infra-check)"
)

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
SECRET_SETTINGS = {"TEAMS_WEBHOOK_URL", "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "RELAY_SMTP_URL"}
STORAGE_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",  # Storage Blob Data Owner
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88",  # Storage Queue Data Contributor
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",  # Storage Table Data Contributor
}


@functools.cache
def parse(name: str) -> dict:
    return _parser().parse(text=(INFRA / name).read_text(encoding="utf-8"))


@functools.cache
def _parser():
    return pycep.BicepParser()


def variable(tree: dict, name: str):
    return tree["variables"][name]["value"]


def resource(tree: dict, name: str) -> dict:
    return tree["resources"][name]["config"]


def conditional(value) -> dict:
    """The operands of `cond ? a : b`."""
    assert isinstance(value, dict) and value["operator"]["type"] == "conditional", value
    return value["operator"]["operands"]


@pytest.mark.parametrize("path", sorted(p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep")))
def test_every_bicep_file_parses(path):
    tree = parse(path)
    assert tree["resources"] or tree["modules"], f"{path} declares nothing"


def test_storage_takes_no_shared_keys():
    tree = parse("modules/storage.bicep")
    properties = resource(tree, "account")["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True
    roles = variable(tree, "roles")
    assert set(roles.values()) == STORAGE_ROLES
    assert tree["resources"]["identityRoles"]["config"]["loop_type"]["detail"]["object_name"] == "roles"


def test_function_app_is_flex_consumption_python_311_with_identity_based_storage():
    tree = parse("modules/function-app.bicep")
    assert resource(tree, "plan")["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    app = resource(tree, "app")
    config = app["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert app["identity"]["type"] == "UserAssigned"
    settings = {s["name"]: s["value"] for s in variable(tree, "hostStorage") + variable(tree, "relaySettings")}
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "AzureWebJobsStorage" not in settings  # no connection string: shared keys are off
    assert settings["RELAY_TABLES_CONNECTION__credential"] == "managedidentity"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"


def test_every_secret_app_setting_is_a_key_vault_reference():
    tree = parse("modules/function-app.bicep")
    app = resource(tree, "app")
    assert app["properties"]["keyVaultReferenceIdentity"] == "identityId"
    assert app["properties"]["siteConfig"]["appSettings"]["function"] == {
        "type": "concat", "parameters": {"arg_1": "hostStorage", "arg_2": "relaySettings", "arg_3": "secretSettings"}}
    plain = {s["name"] for s in variable(tree, "hostStorage") + variable(tree, "relaySettings")}
    assert not plain & SECRET_SETTINGS, "a receiver secret as a plain app setting"
    secrets = variable(tree, "secretSettings")
    assert secrets["loop_type"]["detail"]["object_name"] == "receiverSecrets"
    value = conditional(secrets["config"]["value"])
    assert value["true_value"] == ""  # a secret left empty stays unset
    assert value["false_value"].startswith("@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/")
    # the secrets reach Key Vault through @secure() parameters only
    for name, parameter in [("main.bicep", "receiverSecrets"), ("modules/function-app.bicep", "receiverSecrets"),
                            ("modules/keyvault.bicep", "secrets")]:
        decorators = parse(name)["parameters"][parameter]["decorators"]
        assert {"type": "secure"} in decorators, f"{name}: {parameter} is not @secure()"
    vault = parse("modules/keyvault.bicep")
    assert resource(vault, "vault")["properties"]["enableRbacAuthorization"] is True
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert set(parameters["receiverSecrets"]["value"]) == SECRET_SETTINGS
    for name, value in parameters["receiverSecrets"]["value"].items():
        assert value == f"${{{name}}}", "secret values come from the azd environment, never the file"


def test_action_group_is_global_with_the_common_schema_and_calls_ingest():
    tree = parse("modules/action-group.bicep")
    group = resource(tree, "group")
    assert group["location"] == "Global"
    [receiver] = group["properties"]["azureFunctionReceivers"]
    assert receiver["useCommonAlertSchema"] is True
    assert receiver["functionName"] == "ingest"
    assert "/api/alerts?code=" in receiver["httpTriggerUrl"]
    assert "/host/default" in json.dumps(receiver["httpTriggerUrl"])


def test_service_health_rule_conditions():
    tree = parse("modules/alert-rules.bicep")
    rule = resource(tree, "serviceHealth")
    assert rule["location"] == "Global"
    assert rule["properties"]["condition"] == {"allOf": "serviceHealthConditions"}
    assert variable(tree, "serviceHealthConditions")["function"]["parameters"] == {
        "arg_1": "serviceHealthBase", "arg_2": "serviceClause", "arg_3": "regionClause"}
    category, incident = variable(tree, "serviceHealthBase")
    assert category == {"field": "category", "equals": "ServiceHealth"}
    assert incident == {"anyOf": "incidentTypeConditions"}
    assert variable(tree, "incidentTypes") == ["Maintenance", "Incident", "Security", "ActionRequired"]
    loop = variable(tree, "incidentTypeConditions")
    assert loop["loop_type"]["detail"]["array_name"] == "incidentTypes"
    assert loop["config"]["field"] == "properties.incidentType"
    services, regions = conditional(variable(tree, "serviceClause")), conditional(variable(tree, "regionClause"))
    assert services["false_value"] == [{"field": "properties.impactedServices[*].ServiceName", "containsAny": "services"}]
    assert regions["false_value"] == [
        {"field": "properties.impactedServices[*].ImpactedRegions[*].RegionName", "containsAny": "regions"}]
    assert services["true_value"] == regions["true_value"] == []  # no list: no clause, every service or region


def test_resource_health_rule_conditions():
    tree = parse("modules/alert-rules.bicep")
    rule = resource(tree, "resourceHealth")
    assert rule["location"] == "Global"
    assert rule["properties"]["condition"] == {"allOf": "resourceHealthConditions"}
    category, resource_type, status = variable(tree, "resourceHealthBase")
    assert category == {"field": "category", "equals": "ResourceHealth"}
    assert resource_type["field"] == "resourceType"
    assert resource_type["equals"].lower() == "microsoft.compute/virtualmachines"
    statuses = {c["equals"] for c in status["anyOf"]}
    assert {c["field"] for c in status["anyOf"]} == {"properties.currentHealthStatus"}
    assert statuses == {"Available", "Unavailable", "Degraded"}  # Unknown excluded
    cause = conditional(variable(tree, "causeClause"))
    assert cause["true_value"] == [{"field": "properties.cause", "equals": "PlatformInitiated"}]
    main = parse("main.bicep")
    assert main["parameters"]["resourceHealthPlatformInitiatedOnly"]["default"] is True


def test_each_watched_subscription_gets_reader_and_the_rules():
    tree = parse("modules/target-subscription.bicep")
    assignment = resource(tree, "readerAssignment")["properties"]
    assert assignment["roleDefinitionId"]["function"]["parameters"]["resource_name_1"] == "reader"
    assert variable(tree, "reader") == "acdd72a7-3385-48ef-bd42-f606fba81ae7"  # Reader
    assert tree["modules"]["rules"]["detail"]["path"] == "alert-rules.bicep"
    main = parse("main.bicep")
    watched = main["modules"]["watched"]["config"]
    assert watched["loop_type"]["detail"]["array_name"] == "watchedSubscriptions"


def test_azd_project():
    project = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert project["services"]["relay"] == {"project": ".", "language": "python", "host": "function"}
    main = parse("main.bicep")
    app = main["modules"]["functionApp"]["config"]["params"]
    assert {"'azd-service-name'": "relay"} in app["tags"]["function"]["parameters"].values()  # how azd finds the app
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    assert set(parameters) <= set(main["parameters"])


def test_the_deployer_may_be_a_pipeline_not_only_a_person():
    """A role assignment's principalType must match the principal: azd run by a service principal passes
    AZURE_PRINCIPAL_TYPE=ServicePrincipal, and every grant to the deployer follows it."""
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE=User}"
    main = parse("main.bicep")
    assert main["parameters"]["principalType"]["default"] == "User"
    granted = []
    for module in ("storage", "keyVault"):
        params = main["modules"][module]["config"]["params"]
        assert (params["userPrincipalId"], params["userPrincipalType"]) == ("principalId", "principalType")
    for path in ("modules/storage.bicep", "modules/keyvault.bicep"):
        tree = parse(path)
        decorators = tree["parameters"]["userPrincipalType"]["decorators"]
        allowed = next(d["argument"] for d in decorators if d["type"] == "allowed")
        assert allowed == ["User", "ServicePrincipal"]
        for name, found in tree["resources"].items():
            config = found["config"]["config"] if "condition" in found["config"] else found["config"]
            properties = config.get("properties") or {}
            if properties.get("principalId") == "userPrincipalId":
                assert properties["principalType"] == "userPrincipalType", (path, name)
                granted.append(name)
    assert len(granted) == 3  # queue and table data, Key Vault secrets


def test_teams_bot_is_global_single_tenant_and_on_the_teams_channel():
    """The Azure Bot of the Teams bot receiver: global (no regional data residency is offered in Japan), kind
    azurebot, Bot Framework calling the Function's /api/messages, Entra tokens only, never multi-tenant (no new
    multi-tenant bot may be created), and the Microsoft Teams channel enabled."""
    tree = parse("modules/bot.bicep")
    found = tree["resources"]["bot"]
    assert (found["type"], found["api_version"]) == ("Microsoft.BotService/botServices", "2022-09-15")
    bot = found["config"]
    assert bot["location"] == "global"
    assert bot["kind"] == "azurebot"
    assert bot["properties"]["function"] == {
        "type": "union", "parameters": {"arg_1": "botSettings", "arg_2": "botIdentity"}}
    settings = variable(tree, "botSettings")
    assert settings["endpoint"] == "https://${functionHostName}/api/messages"
    assert settings["disableLocalAuth"] is True
    assert settings["publicNetworkAccess"] == "Enabled"  # Teams is a public channel: 'Disabled' turns it off
    identity = conditional(variable(tree, "botIdentity"))
    assert variable(tree, "managedIdentity")["operator"]["operands"] == {
        "operand_1": "appType", "operand_2": "UserAssignedMSI"}
    msi, registration = identity["true_value"], identity["false_value"]
    assert msi["msaAppType"] == "UserAssignedMSI"
    assert (msi["msaAppId"], msi["msaAppMSIResourceId"]) == ("identityClientId", "identityId")
    assert registration["msaAppType"] == "SingleTenant"
    assert registration["msaAppId"] == "appId"
    assert "msaAppMSIResourceId" not in registration
    for way in (msi, registration):
        assert way["msaAppTenantId"]["function"]["type"] == "tenant"
    parameter = tree["parameters"]["appType"]
    assert parameter["default"] == "UserAssignedMSI"
    assert next(d["argument"] for d in parameter["decorators"] if d["type"] == "allowed") == [
        "UserAssignedMSI", "SingleTenant"]
    assert "MultiTenant" not in (INFRA / "modules/bot.bicep").read_text(encoding="utf-8")
    channel = tree["resources"]["teams"]
    assert (channel["type"], channel["api_version"]) == ("Microsoft.BotService/botServices/channels", "2022-09-15")
    assert channel["config"]["parent"] == "bot"
    assert channel["config"]["name"] == channel["config"]["properties"]["channelName"] == "MsTeamsChannel"
    assert channel["config"]["properties"]["properties"]["isEnabled"] is True
    assert set(tree["outputs"]) >= {"name", "appId"}


def test_the_teams_bot_is_off_unless_asked_and_its_secret_never_passes_through_bicep():
    main = parse("main.bicep")
    assert (main["parameters"]["teamsBot"]["type"], main["parameters"]["teamsBot"]["default"]) == ("bool", False)
    assert main["parameters"]["teamsBotAppId"]["default"] == ""
    module = main["modules"]["bot"]
    assert module["detail"]["path"] == "modules/bot.bicep"
    assert module["config"]["condition"] == "teamsBot"
    params = module["config"]["config"]["params"]
    assert conditional(params["appType"]) == {
        "condition": "teamsBotRegistered", "true_value": "SingleTenant", "false_value": "UserAssignedMSI"}
    assert params["appId"] == "teamsBotAppId"
    assert params["functionHostName"]["operator"]["operands"]["operand_1"] == "functionApp"
    for name in ("identityId", "identityClientId"):
        assert params[name]["operator"]["operands"]["operand_1"] == "identity"  # the Function's own identity
    # With an app registration, the Function gets a Key Vault reference to TEAMS-BOT-APP-SECRET, and the vault
    # is given nothing to create: the operator puts the secret there.
    setting = conditional(variable(main, "teamsBotSecretSetting"))
    assert set(setting["true_value"]) == {"TEAMS_BOT_APP_SECRET"} and setting["false_value"] == {}
    assert main["modules"]["functionApp"]["config"]["params"]["receiverSecrets"]["function"] == {
        "type": "union", "parameters": {"arg_1": "receiverSecrets", "arg_2": "teamsBotSecretSetting"}}
    assert main["modules"]["keyVault"]["config"]["params"]["secrets"] == "receiverSecrets"
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["teamsBot"]["value"] == "${TEAMS_BOT=false}"
    assert parameters["teamsBotAppId"]["value"] == "${TEAMS_BOT_APP_ID}"
    for output in ("TEAMS_BOT_ID", "TEAMS_BOT_NAME"):
        assert conditional(main["outputs"][output]["value"])["condition"] == "teamsBot"
    # azd writes the outputs back to the environment: one named like an input would feed itself next time
    inputs = set(re.findall(r"\$\{([A-Z0-9_]+)", json.dumps(parameters)))
    assert not {"TEAMS_BOT_ID", "TEAMS_BOT_NAME"} & inputs
