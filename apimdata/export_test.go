package apimdata

// Hooks for the tests of package apimdata_test: they show states a test
// must wait for and cannot see otherwise.

// FullReadJoined is how many callers wait for the full read in flight (0
// when none is).
func FullReadJoined(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full == nil {
		return 0
	}
	return s.full.Joined()
}

// KeyReadJoined is how many callers wait for the read of consumerKey in
// flight (0 when none is).
func KeyReadJoined(s *Store, consumerKey string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.keyReads[consumerKey]; f != nil {
		return f.Joined()
	}
	return 0
}

// SetTriedMax bounds the consumer keys s remembers as read to n, so a test
// fills the memo with a few keys rather than 10,000.
func SetTriedMax(s *Store, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tried.max = n
}

// TriedLen is how many consumer keys s remembers as read.
func TriedLen(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tried.len()
}

// Limits of the package, for the tests that reach them.
const (
	MaxTriedKeys        = maxTargetedKeys
	MaxTargetedInFlight = maxTargetedInFlight
	MaxElementSize      = maxElementSize
	ElementCost         = elementCost
)
