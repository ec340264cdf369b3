//go:build unix

package mongodb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive advisory lock on dir/.lock so that two
// processes (say serve and a replay run started next to it) never open the
// same SQLite files through two FerretDB catalogues. The lock goes away with
// the process, so a crash leaves nothing to clean up.
func lockDir(dir string) (unlock func() error, err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("in use by another process (another portal or `portal mongo` serves it)")
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f.Close, nil
}
