// Package mongodb is the storage foundation of the read side: a MongoDB
// connection (Connect), the embedded FerretDB used when no MongoDB URL is
// configured (Embedded), projection checkpoints (CheckpointStore), one
// active runner per projection across replicas (Leases), and versioned
// read-model collections with the document saying which version serves
// reads (Versions).
//
// The same code runs against MongoDB and against FerretDB v1 on SQLite;
// it keeps to what both do well:
//
//   - Every hot path filters by exactly {_id: <string>}. FerretDB pushes
//     only that form down to SQLite (and only for string and ObjectID ids);
//     any other filter decodes and scans the whole collection in Go.
//   - Nothing needs transactions, change streams or $lookup.
//   - No correctness argument rests on an update being atomic. FerretDB v1
//     executes update and findAndModify as "query, change in Go, write back
//     by _id" with no lock between the two steps, so two clients updating
//     one document can interleave. What is atomic on both servers is the
//     insert of a document whose _id already exists (duplicate key) and the
//     delete of one _id. Leases are therefore built on inserts only (see
//     leases.go); checkpoints and the active version use $max, which MongoDB
//     applies atomically, plus a lock per name inside the process, which is
//     enough for the embedded mode's single process.
//
// # Collections
//
//   - checkpoints: {_id: <projection>, position: <int64 commit position>}
//   - leases: {_id: <lease>, term: <hint>} and one document per lease term
//     {_id: "<lease>#<term>", lease, term, owner, expiresAt, released}
//   - readmodels: {_id: <read model>, version, switchedAt}; the data itself
//     lives in <read model>_v<version>.
//
// # Tests
//
// The tests run against an embedded FerretDB started once for the package.
// To run the same tests against a real MongoDB instead, set
// PORTAL_TEST_MONGO_URL, for example
//
//	docker run -d --rm -p 27017:27017 mongo:8
//	PORTAL_TEST_MONGO_URL=mongodb://127.0.0.1:27017 go test ./adapters/mongodb
//
// Each test uses its own database (named after the test) and drops it at
// the end; tests that are about the embedded server itself (restart keeps
// data) skip with a message in that mode.
package mongodb
