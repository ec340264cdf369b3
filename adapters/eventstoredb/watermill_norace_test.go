//go:build !race

package eventstoredb_test

const raceDetector = false
