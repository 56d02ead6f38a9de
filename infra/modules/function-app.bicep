// The relay's Function App on a Flex Consumption plan: Python 3.11, deployed by azd from a blob
// container, with every connection identity-based (the user-assigned identity) and every receiver
// secret a Key Vault reference.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param keyVaultUri string
@secure()
param receiverSecrets object
param relayConfig string
param instanceMemoryMB int
param maximumInstanceCount int

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is a choice for the operator; a relay of maintenance notices does not justify its minimum instance cost.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// Host storage: identity-based, with the service URIs a user-assigned identity needs.
var hostStorage = [
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
  { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
  { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
  { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
]

var relaySettings = [
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
  // azure-identity (Resource Graph, Activity Log, Graph sendMail) picks the user-assigned identity by this.
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  { name: 'RELAY_CONFIG', value: relayConfig }
  // The Table ledger, identity-based like the queue (same account).
  { name: 'RELAY_TABLES_CONNECTION__tableServiceUri', value: storage.properties.primaryEndpoints.table }
  { name: 'RELAY_TABLES_CONNECTION__credential', value: 'managedidentity' }
  { name: 'RELAY_TABLES_CONNECTION__clientId', value: identityClientId }
  { name: 'RELAY_TABLE', value: 'relayledger' }
]

// One setting per receiver secret, named as the config names it, resolved by the platform from Key Vault
// (versionless: a rotated secret is picked up without a deployment). An empty secret leaves the setting
// empty, and the receiver that names it reports "not set".
var secretSettings = [for item in items(receiverSecrets): {
  name: item.key
  value: empty(item.value) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${replace(item.key, '_', '-')})'
}]

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero (always-ready instances cost money); the intake answers from a cold start, and the Action Group retries 503s and timeouts.
  // checkov:skip=CKV_AZURE_222: the Action Group calls the Function over the internet (Azure Function receivers need a public endpoint); requests need the function key.
  // checkov:skip=CKV_AZURE_17: Action Groups present no client certificate; the function key authenticates them.
  // checkov:skip=CKV_AZURE_213: Flex Consumption offers no health check ping; failures show in Application Insights and in the relay's operations notices.
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: concat(hostStorage, relaySettings, secretSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

output name string = app.name
output id string = app.id
output hostName string = app.properties.defaultHostName
