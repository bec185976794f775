package revocation

import (
	"testing"
	"time"
)

// SetStorageTimeout makes each storage call of the package time out after
// d until the end of t.
func SetStorageTimeout(t testing.TB, d time.Duration) {
	old := storageTimeout
	storageTimeout = d
	t.Cleanup(func() { storageTimeout = old })
}

// SetMaxEntries bounds the entries of every List to n until the end of t.
func SetMaxEntries(t testing.TB, n int) {
	old := maxEntries
	maxEntries = n
	t.Cleanup(func() { maxEntries = old })
}
