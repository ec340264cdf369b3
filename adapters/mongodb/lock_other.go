//go:build !unix

package mongodb

// lockDir does not lock on systems without flock; running two processes on
// one directory there is the operator's mistake to avoid.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }
