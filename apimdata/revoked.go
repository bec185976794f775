package apimdata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// millis is a revocation_time: a JSON number of milliseconds, or a string
// of one (as API Manager's revocation events carry it). null is none.
type millis struct {
	ms  int64
	set bool
}

// UnmarshalJSON reads a number, a string of digits or null.
func (m *millis) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("revocation_time %.32q is not a whole number of milliseconds", b)
	}
	m.ms, m.set = n, true
	return nil
}

// pick is the first of the times set, or 0.
func pick(ms ...millis) int64 {
	for _, m := range ms {
		if m.set {
			return m.ms
		}
	}
	return 0
}

// first is the first of the strings not empty, or "".
func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// UnmarshalJSON reads an entry of revokedJWTConsumerKeyList: API
// Manager's members (consumer_key, revocation_time, type, organization,
// is_revoke_app_only) or, where they are absent, their camelCase forms.
// revocation_time may be a number or a string of digits.
func (r *RevokedConsumerKey) UnmarshalJSON(b []byte) error {
	var in struct {
		ConsumerKey      string `json:"consumer_key"`
		ConsumerKeyCamel string `json:"consumerKey"`
		Time             millis `json:"revocation_time"`
		TimeCamel        millis `json:"revocationTime"`
		Type             string `json:"type"`
		Organization     string `json:"organization"`
		AppOnly          *bool  `json:"is_revoke_app_only"`
		AppOnlyCamel     *bool  `json:"isRevokeAppOnly"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("a revoked consumer key: %w", err)
	}
	*r = RevokedConsumerKey{
		ConsumerKey:      first(in.ConsumerKey, in.ConsumerKeyCamel),
		RevocationMillis: pick(in.Time, in.TimeCamel),
		Type:             in.Type,
		Organization:     in.Organization,
	}
	switch {
	case in.AppOnly != nil:
		r.AppOnly = *in.AppOnly
	case in.AppOnlyCamel != nil:
		r.AppOnly = *in.AppOnlyCamel
	}
	return nil
}

// UnmarshalJSON reads an entry of revokedJWTSubjectEntityList: API
// Manager's members (entity_id, entity_type, revocation_time,
// organization) or, where they are absent, their camelCase forms.
// revocation_time may be a number or a string of digits.
func (r *RevokedSubjectEntity) UnmarshalJSON(b []byte) error {
	var in struct {
		EntityID        string `json:"entity_id"`
		EntityIDCamel   string `json:"entityId"`
		EntityType      string `json:"entity_type"`
		EntityTypeCamel string `json:"entityType"`
		Time            millis `json:"revocation_time"`
		TimeCamel       millis `json:"revocationTime"`
		Organization    string `json:"organization"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("a revoked subject entity: %w", err)
	}
	*r = RevokedSubjectEntity{
		EntityID:         first(in.EntityID, in.EntityIDCamel),
		EntityType:       first(in.EntityType, in.EntityTypeCamel),
		RevocationMillis: pick(in.Time, in.TimeCamel),
		Organization:     in.Organization,
	}
	return nil
}

// revokedAt is what a snapshot keeps of the bulk revocations of one
// consumer key or one subject: the latest revocation_time (ms) of the
// entries that apply to every token, and that of the entries that apply
// only to tokens whose aut is APPLICATION; 0 is none.
type revokedAt struct {
	all, app int64
}

// add merges one entry into r, keeping the later time.
func (r *revokedAt) add(ms int64, appOnly bool) {
	if appOnly {
		r.app = max(r.app, ms)
	} else {
		r.all = max(r.all, ms)
	}
}

// covers tells whether r revokes a token issued at iatMillis (noIAT: a
// token without iat, which every entry covers); app is set for a token
// whose aut is APPLICATION.
func (r revokedAt) covers(iatMillis int64, noIAT, app bool) bool {
	if r.all > 0 && (noIAT || iatMillis <= r.all) {
		return true
	}
	return app && r.app > 0 && (noIAT || iatMillis <= r.app)
}

// bulkIndex indexes the bulk revocations of /revokedjwt: by consumer key
// (revokedJWTConsumerKeyList and the CLIENT_ID entries of
// revokedJWTSubjectEntityList) and by subject (its USER_ID entries).
// Entries without a key or a positive revocation_time, and subject
// entities of another type, are left out.
func bulkIndex(keys []RevokedConsumerKey, subjects []RevokedSubjectEntity) (byKey, bySubject map[string]revokedAt) {
	byKey = make(map[string]revokedAt)
	bySubject = make(map[string]revokedAt)
	put := func(m map[string]revokedAt, id string, ms int64, appOnly bool) {
		if id == "" || ms <= 0 {
			return
		}
		r := m[id]
		r.add(ms, appOnly)
		m[id] = r
	}
	for _, k := range keys {
		put(byKey, k.ConsumerKey, k.RevocationMillis, k.AppOnly)
	}
	for _, s := range subjects {
		switch {
		case strings.EqualFold(s.EntityType, EntityTypeClientID):
			put(byKey, s.EntityID, s.RevocationMillis, false)
		case strings.EqualFold(s.EntityType, EntityTypeUserID):
			put(bySubject, s.EntityID, s.RevocationMillis, false)
		}
	}
	return byKey, bySubject
}

// RevokedBefore tells whether API Manager revoked, in bulk, the token of
// consumerKey and subject (its sub) issued at issuedAt: whether an entry
// of revokedJWTConsumerKeyList or a CLIENT_ID entry of
// revokedJWTSubjectEntityList names consumerKey, or a USER_ID entry names
// subject exactly, with a revocation_time (ms) not before iat × 1000. No
// clock skew applies. A zero issuedAt (a token without iat) is covered by
// every entry that names it. appToken is set for a token whose aut is
// APPLICATION: only such tokens are covered by the entries marked
// is_revoke_app_only. An empty consumerKey or subject matches nothing.
// RevokedBefore neither locks nor allocates.
func (s *Snapshot) RevokedBefore(consumerKey, subject string, issuedAt time.Time, appToken bool) bool {
	noIAT := issuedAt.IsZero()
	var iat int64
	if !noIAT {
		iat = issuedAt.UnixMilli()
	}
	if consumerKey != "" && len(s.revokedKeys) > 0 {
		if r, ok := s.revokedKeys[consumerKey]; ok && r.covers(iat, noIAT, appToken) {
			return true
		}
	}
	if subject != "" && len(s.revokedSubjects) > 0 {
		if r, ok := s.revokedSubjects[subject]; ok && r.covers(iat, noIAT, appToken) {
			return true
		}
	}
	return false
}
