// Azure Maintenance Relay: everything `azd up` provisions.
//
// Subscription scope, as the azd Flex Consumption templates are: the resource group is created here,
// and each watched subscription gets Reader for the relay's identity and its own alert rules.
//
//   resource group  identity (user-assigned) ─ storage (no shared keys) ─ Log Analytics + App Insights
//                   Key Vault (RBAC; receiver secrets) ─ Function App (Flex Consumption, Python 3.11)
//                   Action Group (Global, Azure Function receiver, common alert schema)
//   each watched subscription: Reader for the identity; Service Health + Resource Health alert rules
//   teamsBot: an Azure Bot (global, Microsoft Teams channel) calling the Function App's /api/messages
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region of the resource group and its resources (one that offers Flex Consumption).')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the person running azd: may set Key Vault secrets and read the relay queue and ledger (for `relay poison`). Empty: none.')
param principalId string = ''

@description('What principalId is: User when a person runs azd, ServicePrincipal when a pipeline does (set AZURE_PRINCIPAL_TYPE).')
@allowed([ 'User', 'ServicePrincipal' ])
param principalType string = 'User'

@description('Comma-separated subscription ids to watch (Reader for the relay, alert rules). Empty: the subscription deployed to.')
param targetSubscriptionIds string = ''

@description('Comma-separated Azure regions as Service Health names them (e.g. "Japan East,Japan West"), no space after a comma. Empty: every region.')
param serviceHealthRegions string = 'Japan East,Japan West'

@description('Comma-separated Service Health service names (e.g. "Virtual Machines,Virtual Machine Scale Sets"), no space after a comma. Empty: every service.')
param serviceHealthServices string = 'Virtual Machines,Virtual Machine Scale Sets'

@description('Resource Health alerts only for platform-initiated events (properties.cause). An event logged before its cause is known carries no cause and is then not alerted.')
param resourceHealthPlatformInitiatedOnly bool = true

@description('RELAY_CONFIG of the Function App: the path of the relay\'s YAML config inside the deployed package. Empty: embedded defaults.')
param relayConfig string = ''

@secure()
@description('Receiver secrets, by the environment variable name the config gives them (TEAMS_WEBHOOK_URL, SLACK_BOT_TOKEN...). Each non-empty one becomes a Key Vault secret and an app setting that references it.')
param receiverSecrets object = {}

@description('Deploy the Azure Bot of the Teams bot receiver (Microsoft Teams channel, messaging endpoint https://<function host>/api/messages).')
param teamsBot bool = false

@description('With teamsBot: client id of a single-tenant app registration to be the bot, its secret put in Key Vault by hand as TEAMS-BOT-APP-SECRET. Empty: the relay\'s user-assigned identity is the bot, with no secret at all.')
param teamsBotAppId string = ''

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var resourceGroupName = '${abbrs.resourcesResourceGroups}${environmentName}'
var functionAppName = '${abbrs.webSitesFunctions}${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var watchedSubscriptions = empty(targetSubscriptionIds) ? [subscription().subscriptionId] : split(targetSubscriptionIds, ',')
var regions = empty(serviceHealthRegions) ? [] : split(serviceHealthRegions, ',')
var services = empty(serviceHealthServices) ? [] : split(serviceHealthServices, ',')
var teamsBotRegistered = teamsBot && !empty(teamsBotAppId)
// An app registration's client secret: an app setting referencing TEAMS-BOT-APP-SECRET, which the operator
// puts in Key Vault (neither Bicep nor the azd environment ever holds it). function-app.bicep makes a Key
// Vault reference of each non-empty entry and reads nothing else of it; the Key Vault module is not given it.
var teamsBotSecretSetting = teamsBotRegistered ? { TEAMS_BOT_APP_SECRET: 'set in Key Vault by hand' } : {}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
    secrets: receiverSecrets
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: union(tags, { 'azd-service-name': 'relay' })
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultUri: keyVault.outputs.uri
    receiverSecrets: union(receiverSecrets, teamsBotSecretSetting)
    relayConfig: relayConfig
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
  // The app resolves its Key Vault references and reaches storage only once its roles exist.
  dependsOn: [keyVault, storage, monitoring]
}

module bot 'modules/bot.bicep' = if (teamsBot) {
  name: 'bot'
  scope: rg
  params: {
    name: 'bot-${resourceToken}'
    tags: tags
    functionHostName: functionApp.outputs.hostName
    appType: teamsBotRegistered ? 'SingleTenant' : 'UserAssignedMSI'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    appId: teamsBotAppId
  }
}

module actionGroup 'modules/action-group.bicep' = {
  name: 'action-group'
  scope: rg
  params: {
    name: '${abbrs.insightsActionGroups}${resourceToken}'
    tags: tags
    functionAppName: functionApp.outputs.name
  }
}

module watched 'modules/target-subscription.bicep' = [for subscriptionId in watchedSubscriptions: {
  name: 'watch-${take(uniqueString(subscriptionId, environmentName), 8)}'
  scope: subscription(subscriptionId)
  params: {
    resourceGroupName: resourceGroupName
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    actionGroupId: actionGroup.outputs.id
    regions: regions
    services: services
    platformInitiatedOnly: resourceHealthPlatformInitiatedOnly
  }
}]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_RELAY_NAME string = functionApp.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output RELAY_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output RELAY_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output RELAY_ACTION_GROUP_ID string = actionGroup.outputs.id
// The bot's Microsoft App ID (relay teams-app --bot-id, the receiver's app_id) and resource name; empty without
// teamsBot. Not named TEAMS_BOT_APP_ID: azd writes outputs back to the environment, and that one is an input.
output TEAMS_BOT_ID string = teamsBot ? bot.outputs.appId : ''
output TEAMS_BOT_NAME string = teamsBot ? bot.outputs.name : ''
