// The Azure Bot of the Teams bot receiver: Bot Framework calls the Function App's POST /api/messages
// (Action.Execute buttons), and the relay posts, replies and updates cards in a team's channel as this bot.
// Single tenant, in one of two ways (appType):
//   UserAssignedMSI  the relay's own user-assigned identity is the bot (msaAppId = its client id): no secret
//                    anywhere. The default.
//   SingleTenant     an app registration made by hand (msaAppId = appId); its client secret is kept in Key
//                    Vault by hand too, never by this template.
// Only the Microsoft Teams channel is added. Global: Azure Bot resources are global unless regional data
// residency is chosen, which is offered in Europe and India only.
@minLength(2)
@maxLength(64)
@description('Name of the bot resource: unique across Azure; letters, digits, hyphens, underscores and periods.')
param name string
param tags object

@description('Shown in Teams until the app package (relay teams-app) names the bot.')
param displayName string = 'Maintenance Relay'

@description('Default host name of the Function App: the messaging endpoint is https://<host>/api/messages.')
param functionHostName string

@description('UserAssignedMSI: the relay\'s identity is the bot. SingleTenant: the app registration appId.')
@allowed([ 'UserAssignedMSI', 'SingleTenant' ])
param appType string = 'UserAssignedMSI'

@description('Resource id of the relay\'s user-assigned identity (UserAssignedMSI).')
param identityId string = ''

@description('Client id of the relay\'s user-assigned identity (UserAssignedMSI).')
param identityClientId string = ''

@description('Client (application) id of the single-tenant app registration (SingleTenant).')
param appId string = ''

@description('Pricing tier: F0 (free) or S1 (standard).')
@allowed([ 'F0', 'S1' ])
param sku string = 'F0'

var managedIdentity = appType == 'UserAssignedMSI'

// Which identity the Bot Connector trusts; msaAppMSIResourceId only for a managed identity.
var botIdentity = managedIdentity ? {
  msaAppType: 'UserAssignedMSI'
  msaAppId: identityClientId
  msaAppTenantId: tenant().tenantId
  msaAppMSIResourceId: identityId
} : {
  msaAppType: 'SingleTenant'
  msaAppId: appId
  msaAppTenantId: tenant().tenantId
}

var botSettings = {
  displayName: displayName
  endpoint: 'https://${functionHostName}/api/messages'
  // Microsoft Entra tokens only: no Direct Line or Web Chat keys (nor the portal's "Test in Web Chat").
  disableLocalAuth: true
  // Teams reaches the bot over the public internet; 'Disabled' (isolated mode) turns such channels off.
  publicNetworkAccess: 'Enabled'
}

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: name
  location: 'global'
  tags: tags
  kind: 'azurebot'
  sku: {
    name: sku
  }
  properties: union(botSettings, botIdentity)
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
    }
  }
}

output name string = bot.name
@description('The bot\'s Microsoft App ID: what `relay teams-app --bot-id` and the receiver\'s app_id take.')
output appId string = managedIdentity ? identityClientId : appId
output endpoint string = botSettings.endpoint
