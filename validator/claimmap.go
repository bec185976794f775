package validator

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// MaxClaimMap bounds the pairs of one claim map.
const MaxClaimMap = 1024

// claimMap is an issuer's claim_map (MGW 3.2's [[jwtTokenConfig.claims]]
// remoteClaim/localClaim), checked once: each remote name renamed to its
// local name, no two remote names to one local name.
type claimMap struct {
	local map[string]string // remote name → local name
}

// newClaimMap checks m (remote name → local name) and returns its claimMap,
// nil when m is empty.
func newClaimMap(m map[string]string) (*claimMap, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if len(m) > MaxClaimMap {
		return nil, fmt.Errorf("claim_map: %d pairs, more than the %d allowed", len(m), MaxClaimMap)
	}
	from := make(map[string]string, len(m)) // local name → remote name
	for _, remote := range slices.Sorted(maps.Keys(m)) {
		local := m[remote]
		if remote == "" || local == "" {
			return nil, fmt.Errorf("claim_map: an empty claim name in the pair %q %q", remote, local)
		}
		if other, dup := from[local]; dup {
			return nil, fmt.Errorf("claim_map: %q and %q both map to %q", other, remote, local)
		}
		from[local] = remote
	}
	return &claimMap{local: maps.Clone(m)}, nil
}

// apply returns the claims renamed: a claim whose name is a remote name
// under its local name, its value unchanged, replacing a claim of that name;
// the others as they are. Renames do not chain: each reads the claims as
// issued. It returns nil for a nil claimMap.
func (m *claimMap) apply(claims map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(claims))
	for name, v := range claims {
		if _, renamed := m.local[name]; !renamed {
			out[name] = v
		}
	}
	for name, v := range claims {
		if local, renamed := m.local[name]; renamed {
			out[local] = v
		}
	}
	return out
}

// CopiedClaims returns the claims as the backend JWT copies them and
// placeholders show them: Copied when the token's issuer has a claim map,
// else Claims.
func (t *Token) CopiedClaims() map[string]json.RawMessage {
	if t.Copied != nil {
		return t.Copied
	}
	return t.Claims
}
