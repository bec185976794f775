package caddymodule

import (
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
)

// TestRotationPlan checks the schedule of a rotation of 24h (lead 1h) for
// tokens living 15m: when a key becomes due, when it signs, and when a
// replaced key leaves the ring.
func TestRotationPlan(t *testing.T) {
	r := newKeyRotation(nil, "ES256", 24*time.Hour, 15*time.Minute)
	if r.lead != time.Hour || r.poll != time.Minute || r.keep != 16*time.Minute {
		t.Fatalf("lead %s, poll %s, keep %s", r.lead, r.poll, r.keep)
	}
	day0 := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return day0.Add(d) }
	keys := func(from ...time.Duration) []ringKey {
		ring := make([]ringKey, len(from))
		for i, d := range from {
			ring[i] = ringKey{SignsFrom: at(d), PEM: d.String()}
		}
		return ring
	}
	tests := []struct {
		name     string
		ring     []ringKey
		now      time.Duration
		kept     int
		nextFrom time.Duration // -1: none due
		changed  bool
	}{
		{"empty ring: a key signing now", nil, 0, 0, 0, true},
		{"fresh key: nothing due", keys(0), time.Hour, 1, -1, false},
		{"just before the lead", keys(0), 23*time.Hour - time.Nanosecond, 1, -1, false},
		{"the lead before the period: next key due", keys(0), 23 * time.Hour, 1, 24 * time.Hour, true},
		{"next key pending: nothing due", keys(0, 24*time.Hour), 23*time.Hour + time.Minute, 2, -1, false},
		{"next key signs: the old one kept", keys(0, 24*time.Hour), 24*time.Hour + 15*time.Minute, 2, -1, false},
		{"old key's tokens expired: dropped", keys(0, 24*time.Hour), 24*time.Hour + 16*time.Minute, 1, -1, true},
		{"down for days: the next key still waits a lead", keys(0), 72 * time.Hour, 1, 73 * time.Hour, true},
		{"down for days: old keys dropped, next due", keys(0, 24*time.Hour), 72 * time.Hour, 1, 73 * time.Hour, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kept, nextFrom, changed := r.plan(tc.ring, at(tc.now))
			if len(kept) != tc.kept || changed != tc.changed {
				t.Fatalf("kept %d keys, changed %v; want %d, %v", len(kept), changed, tc.kept, tc.changed)
			}
			if tc.nextFrom < 0 {
				if !nextFrom.IsZero() {
					t.Fatalf("next key due to sign at %s, want none", nextFrom)
				}
			} else if !nextFrom.Equal(at(tc.nextFrom)) {
				t.Fatalf("next key signs at %s, want %s", nextFrom, at(tc.nextFrom))
			}
			if len(kept) > 0 && kept[len(kept)-1].PEM != tc.ring[len(tc.ring)-1].PEM {
				t.Fatal("the newest key was dropped")
			}
		})
	}
}

// TestRotationState checks which key signs and which are published.
func TestRotationState(t *testing.T) {
	r := newKeyRotation(nil, "ES256", 24*time.Hour, 15*time.Minute)
	day0 := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	pems := make([]string, 3)
	for i := range pems {
		pems[i] = newPEM(t, "ES256")
	}
	r.ring = []ringKey{
		{SignsFrom: day0, PEM: pems[0]},
		{SignsFrom: day0.Add(24 * time.Hour), PEM: pems[1]},
		{SignsFrom: day0.Add(48 * time.Hour), PEM: pems[2]},
	}
	tests := []struct {
		name      string
		now       time.Duration
		published []int // indexes into pems, signing key first
		next      time.Duration
	}{
		{"first key signs, two pending", time.Hour, []int{0, 2, 1}, 24 * time.Hour},
		{"second signs, first still needed", 24*time.Hour + time.Minute, []int{1, 2, 0}, 48 * time.Hour},
		{"second signs, first expired", 25 * time.Hour, []int{1, 2}, 48 * time.Hour},
		{"last signs", 49 * time.Hour, []int{2}, 0},
		{"before the first (clock behind)", -time.Minute, []int{0, 2, 1}, 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, next, err := r.state(day0.Add(tc.now))
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(tc.published) {
				t.Fatalf("%d keys published, want %d", len(keys), len(tc.published))
			}
			for i, want := range tc.published {
				if keys[i].key != r.parsed[pems[want]] {
					t.Errorf("published[%d] is not key %d", i, want)
				}
			}
			if !keys[0].until.IsZero() {
				t.Error("the signing key has an end")
			}
			wantNext := time.Time{}
			if tc.next != 0 {
				wantNext = day0.Add(tc.next)
			}
			if !next.Equal(wantNext) {
				t.Errorf("next %s, want %s", next, wantNext)
			}
		})
	}
}

// newPEM makes a key for alg, as PEM.
func newPEM(t *testing.T, alg string) string {
	t.Helper()
	key, err := jwtgen.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := jwtgen.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
