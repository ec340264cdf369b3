// Package bench is the end-to-end load harness behind `portal bench`.
//
// It starts the portal as a child process on the embedded stack (or targets
// a running one), drives it over HTTP and measures each stage beside the
// raw speed of the part under it, measured in the same run: a single append
// through the official EventStore client to the same event store, an insert
// and an _id update on the same Mongo/FerretDB server, a Gin handler that
// does nothing, and the disk's fsync rate. The machine this runs on is
// shared and noisy, so the ratios are what to compare over time, not the
// absolute figures (see shared/PERFORMANCE.md and BENCHMARKS.md).
//
// Memory and CPU are the child's, read from /proc/<pid>, never the
// harness's own. Stages whose API is not there yet report "not available"
// instead of failing the run.
package bench
