// The Action Group the alert rules call: the relay's HTTP trigger `ingest` (POST /api/alerts) as an
// Azure Function receiver, with the common alert schema. Service Health alerts need a Global group.
//
// The receiver's URL carries a function key. The host-level default function key is used because it
// exists as soon as the app does, while a key of the function `ingest` exists only after azd deploys
// the code (provisioning runs first). It is read here, inside this module, so it never passes through
// deployment parameters or outputs. A rotated key needs `azd provision` again: the Action Group keeps
// the URL it was given.
param name string
param tags object
param functionAppName string

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource group 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: name
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'mntrelay'
    enabled: true
    azureFunctionReceivers: [
      {
        name: 'relay-ingest'
        functionAppResourceId: app.id
        functionName: 'ingest'
        httpTriggerUrl: 'https://${app.properties.defaultHostName}/api/alerts?code=${listKeys('${app.id}/host/default', '2024-04-01').functionKeys.default}'
        useCommonAlertSchema: true
      }
    ]
  }
}

output id string = group.id
