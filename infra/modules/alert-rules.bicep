// The two activity log alert rules of one subscription, both calling the relay's Action Group.
// An activity log alert rule watches the subscription it lives in: deploy this into each watched one.
param tags object
param actionGroupId string
@description('Service Health regions (containsAny); empty: every region.')
param regions array
@description('Service Health services (containsAny); empty: every service.')
param services array
@description('Resource Health: only events whose cause is PlatformInitiated.')
param platformInitiatedOnly bool

var incidentTypes = ['Maintenance', 'Incident', 'Security', 'ActionRequired']

// Service Health: planned maintenance, service issues, security advisories and health advisories that
// need action, for the chosen services and regions.
var incidentTypeConditions = [for incidentType in incidentTypes: {
  field: 'properties.incidentType'
  equals: incidentType
}]
var serviceHealthBase = [
  { field: 'category', equals: 'ServiceHealth' }
  { anyOf: incidentTypeConditions }
]
var serviceClause = empty(services) ? [] : [{ field: 'properties.impactedServices[*].ServiceName', containsAny: services }]
var regionClause = empty(regions) ? [] : [{ field: 'properties.impactedServices[*].ImpactedRegions[*].RegionName', containsAny: regions }]
var serviceHealthConditions = concat(serviceHealthBase, serviceClause, regionClause)

// Resource Health of virtual machines, every stage (Active, In Progress, Updated, Resolved).
// - Unknown is excluded by listing the statuses that are known. currentHealthStatus is null on some
//   Updated events; those are not alerted either. previousHealthStatus is deliberately not filtered:
//   a VM whose status comes back from Unknown is alerted.
// - cause is null when a transition is logged before its cause is known; with platformInitiatedOnly
//   such an event is not alerted (set it false to trade user-initiated noise for those events).
var resourceHealthBase = [
  { field: 'category', equals: 'ResourceHealth' }
  { field: 'resourceType', equals: 'Microsoft.Compute/virtualMachines' }
  {
    anyOf: [
      { field: 'properties.currentHealthStatus', equals: 'Available' }
      { field: 'properties.currentHealthStatus', equals: 'Unavailable' }
      { field: 'properties.currentHealthStatus', equals: 'Degraded' }
    ]
  }
]
var causeClause = platformInitiatedOnly ? [{ field: 'properties.cause', equals: 'PlatformInitiated' }] : []
var resourceHealthConditions = concat(resourceHealthBase, causeClause)

resource serviceHealth 'Microsoft.Insights/activityLogAlerts@2020-10-01' = {
  name: 'alert-relay-service-health'
  location: 'Global'
  tags: tags
  properties: {
    description: 'Service Health (Maintenance, Incident, Security, ActionRequired) to the maintenance relay.'
    enabled: true
    scopes: [subscription().id]
    condition: { allOf: serviceHealthConditions }
    actions: { actionGroups: [{ actionGroupId: actionGroupId }] }
  }
}

resource resourceHealth 'Microsoft.Insights/activityLogAlerts@2020-10-01' = {
  name: 'alert-relay-vm-resource-health'
  location: 'Global'
  tags: tags
  properties: {
    description: 'Resource Health of virtual machines (platform-initiated, Unknown excluded) to the maintenance relay.'
    enabled: true
    scopes: [subscription().id]
    condition: { allOf: resourceHealthConditions }
    actions: { actionGroups: [{ actionGroupId: actionGroupId }] }
  }
}
