// Key Vault with RBAC authorization holding the receivers' secrets (webhook URLs, bot tokens, SMTP URLs).
// The relay's identity reads them (Key Vault Secrets User) through Key Vault references in app settings.
param name string
param location string
param tags object
param identityPrincipalId string
@description('Gets Key Vault Secrets Officer when set, to add or rotate secrets.')
param userPrincipalId string = ''

@description('User or ServicePrincipal: what userPrincipalId is.')
@allowed([ 'User', 'ServicePrincipal' ])
param userPrincipalType string = 'User'
@secure()
@description('Environment variable name → secret value; empty values are skipped.')
param secrets object

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var secretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: the Function App is not VNet-integrated and resolves Key Vault references over the public endpoint; access needs an Entra token and an RBAC role.
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Secret names allow letters, digits and dashes: TEAMS_WEBHOOK_URL is stored as TEAMS-WEBHOOK-URL.
resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for item in items(secrets): if (!empty(item.value)) {
  // checkov:skip=CKV_AZURE_41: webhook URLs and bot tokens do not expire on a schedule; an expiry date would stop delivery without warning. Rotate them when the service issues new ones.
  parent: vault
  name: replace(item.key, '_', '-')
  properties: {
    value: item.value
    contentType: 'text/plain'
  }
}]

resource identityReads 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, secretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource userManages 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(vault.id, userPrincipalId, secretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficer)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
