// One watched subscription: Reader for the relay's identity (Resource Graph, Compute, Resource Health,
// Activity Log for the backfill), and the alert rules in a resource group of that subscription.
// The person running azd needs, in that subscription, rights to assign roles (Owner or User Access
// Administrator) and to create the resource group and alert rules (Contributor).
targetScope = 'subscription'

param resourceGroupName string
param location string
param tags object
param identityPrincipalId string
param actionGroupId string
param regions array
param services array
param platformInitiatedOnly bool

var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource readerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, identityPrincipalId, reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module rules 'alert-rules.bicep' = {
  name: 'relay-alert-rules'
  scope: rg
  params: {
    tags: tags
    actionGroupId: actionGroupId
    regions: regions
    services: services
    platformInitiatedOnly: platformInitiatedOnly
  }
}
