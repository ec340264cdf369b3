// Package eventstoredb is the adapter between the command layer's
// commands.EventStore port and EventStoreDB (or KurrentDB, or our embedded
// esdbserver), spoken to through the official EventStore-Client-Go v4
// client. It is the only package outside cmd/ that imports that client.
//
// # Stored format
//
// Every event is stored with
//
//   - EventType: the stable name from domain.Registry (never a Go type name);
//
//   - ContentType: JSON; Data: the event struct as JSON;
//
//   - EventID: a random UUID (v4) chosen by us once per Append call, so a
//     retried append is recognised by the server and written only once;
//
//   - custom metadata, a JSON object with camelCase keys:
//
//     {
//     "actor":         "<user id> | system | self-service-link",
//     "correlationId": "<id of the request or flow>",
//     "causationId":   "<id of the message that caused this event>",
//     "requestTime":   "<RFC 3339 time the request arrived, UTC>",
//     "schemaVersion": <payload schema version, 1 until an upcaster raises it>
//     }
//
// The schema version is what decoding hands to the registry, which upcasts
// older payloads. Metadata written without it (version 0) is read as
// version 1. An event whose type the registry does not know is an error
// (ErrUnknownEventType), never skipped: skipping would silently fold a
// different history than the one stored.
package eventstoredb
