// The relay's user-assigned identity: host storage, the queue and ledger, Key Vault references,
// Application Insights, and Reader on the watched subscriptions all go through it.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
