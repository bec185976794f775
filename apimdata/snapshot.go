package apimdata

import "time"

// Outcome is the verdict of a subscription check.
type Outcome uint8

// The outcomes of Snapshot.Check, in the order the check meets them.
const (
	// Pass: the application is subscribed and may call the API.
	Pass Outcome = iota
	// NoKeyMapping: no application holds the consumer key.
	NoKeyMapping
	// NoApplication: the key mapping names an application that is not known.
	NoApplication
	// NoAPI: no API has the name and version asked for.
	NoAPI
	// APIBlocked: the API's lifecycle status is BLOCKED.
	APIBlocked
	// NoSubscription: the application is not subscribed to the API.
	NoSubscription
	// SubscriptionBlocked: the subscription is BLOCKED, or PROD_ONLY_BLOCKED
	// and the key is a production one.
	SubscriptionBlocked
	// SubscriptionInactive: the subscription is ON_HOLD, REJECTED or in a
	// state this package does not know.
	SubscriptionInactive
)

var outcomeNames = [...]string{"pass", "no key mapping", "no application", "no API", "API blocked",
	"no subscription", "subscription blocked", "subscription inactive"}

// String names the outcome for logs.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown outcome"
}

// Result is what Check found: every record it met, and its verdict. The
// records belong to the snapshot and must not be changed.
type Result struct {
	Outcome      Outcome
	Mapping      *KeyMapping
	Application  *Application
	API          *API
	Subscription *Subscription
}

// Snapshot is one complete read of API Manager's data, indexed, plus the
// records of consumer keys read one by one since then. It is never changed
// once published; a re-read makes a new one.
type Snapshot struct {
	full    *index
	extra   *index // targeted reads since the full one; nil when none
	revoked map[string]struct{}
	// revokedKeys and revokedSubjects are the bulk revocations of
	// /revokedjwt, by consumer key and by sub.
	revokedKeys, revokedSubjects map[string]revokedAt
	// ReadAt is when the full read that made the snapshot finished.
	ReadAt time.Time
	// Counts are the records of the full read.
	Counts Counts
}

// Counts are the sizes of a snapshot. Revoked counts the signatures of
// revokedJWTList; RevokedConsumerKeys the consumer keys revoked in bulk
// (revokedJWTConsumerKeyList and CLIENT_ID subject entities), and
// RevokedSubjects the users (USER_ID subject entities), each key once.
type Counts struct {
	APIs, Applications, KeyMappings, Subscriptions, Revoked int
	RevokedConsumerKeys, RevokedSubjects                    int
}

type nameVersion struct{ name, version string }

type appAPI struct{ app, api int }

// index maps the records of one read by the keys lookups use.
type index struct {
	mappings map[string]*KeyMapping // by consumer key
	apps     map[int]*Application
	apis     map[nameVersion]*API
	subs     map[appAPI]*Subscription
}

// Data is the answer of the five reads, as lists.
type Data struct {
	APIs          []API
	Applications  []Application
	KeyMappings   []KeyMapping
	Subscriptions []Subscription
	Revoked       []RevokedToken
	// RevokedConsumerKeys and RevokedSubjects are /revokedjwt's bulk
	// revocations (its object form; the array form has none).
	RevokedConsumerKeys []RevokedConsumerKey
	RevokedSubjects     []RevokedSubjectEntity
}

// NewSnapshot indexes data. keyManager, when not empty, keeps only the key
// mappings of that key manager. Where two records share a key, the first
// one is kept.
func NewSnapshot(data *Data, keyManager string, readAt time.Time) *Snapshot {
	s := &Snapshot{
		full:    newIndex(data, keyManager),
		revoked: make(map[string]struct{}, len(data.Revoked)),
		ReadAt:  readAt,
	}
	for _, r := range data.Revoked {
		if r.Signature != "" {
			s.revoked[r.Signature] = struct{}{}
		}
	}
	s.revokedKeys, s.revokedSubjects = bulkIndex(data.RevokedConsumerKeys, data.RevokedSubjects)
	s.Counts = Counts{
		APIs: len(s.full.apis), Applications: len(s.full.apps), KeyMappings: len(s.full.mappings),
		Subscriptions: len(s.full.subs), Revoked: len(s.revoked),
		RevokedConsumerKeys: len(s.revokedKeys), RevokedSubjects: len(s.revokedSubjects),
	}
	return s
}

func newIndex(data *Data, keyManager string) *index {
	ix := &index{
		mappings: make(map[string]*KeyMapping, len(data.KeyMappings)),
		apps:     make(map[int]*Application, len(data.Applications)),
		apis:     make(map[nameVersion]*API, len(data.APIs)),
		subs:     make(map[appAPI]*Subscription, len(data.Subscriptions)),
	}
	for i := range data.KeyMappings {
		m := &data.KeyMappings[i]
		if keyManager != "" && m.KeyManager != keyManager {
			continue
		}
		if _, dup := ix.mappings[m.ConsumerKey]; !dup && m.ConsumerKey != "" {
			ix.mappings[m.ConsumerKey] = m
		}
	}
	for i := range data.Applications {
		a := &data.Applications[i]
		if _, dup := ix.apps[a.ID]; !dup {
			ix.apps[a.ID] = a
		}
	}
	for i := range data.APIs {
		a := &data.APIs[i]
		k := nameVersion{a.Name, a.Version}
		if _, dup := ix.apis[k]; !dup {
			ix.apis[k] = a
		}
	}
	for i := range data.Subscriptions {
		s := &data.Subscriptions[i]
		k := appAPI{s.ApplicationID, s.APIID}
		if _, dup := ix.subs[k]; !dup {
			ix.subs[k] = s
		}
	}
	return ix
}

// Check finds the application of consumerKey and its subscription to the
// API named apiName and apiVersion, and says whether the call may go on
// (SPEC 11). It does not allocate.
func (s *Snapshot) Check(consumerKey, apiName, apiVersion string) Result {
	var r Result
	if r.Mapping = s.mapping(consumerKey); r.Mapping == nil {
		r.Outcome = NoKeyMapping
		return r
	}
	if r.Application = s.application(r.Mapping.ApplicationID); r.Application == nil {
		r.Outcome = NoApplication
		return r
	}
	if r.API = s.full.apis[nameVersion{apiName, apiVersion}]; r.API == nil {
		r.Outcome = NoAPI
		return r
	}
	if r.API.Status == APIStatusBlocked {
		r.Outcome = APIBlocked
		return r
	}
	if r.Subscription = s.subscription(r.Application.ID, r.API.ID); r.Subscription == nil {
		r.Outcome = NoSubscription
		return r
	}
	switch r.Subscription.State {
	case StateUnblocked, StateTierUpdatePending:
		r.Outcome = Pass
	case StateBlocked:
		r.Outcome = SubscriptionBlocked
	case StateProdOnlyBlocked:
		if r.Mapping.KeyType == KeyTypeSandbox {
			r.Outcome = Pass
		} else {
			r.Outcome = SubscriptionBlocked
		}
	default:
		r.Outcome = SubscriptionInactive
	}
	return r
}

// Revoked tells whether API Manager lists the token whose third part is
// signature as revoked.
func (s *Snapshot) Revoked(signature string) bool {
	_, ok := s.revoked[signature]
	return ok
}

// HasKey tells whether a key mapping holds consumerKey.
func (s *Snapshot) HasKey(consumerKey string) bool { return s.mapping(consumerKey) != nil }

func (s *Snapshot) mapping(key string) *KeyMapping {
	if m := s.full.mappings[key]; m != nil {
		return m
	}
	if s.extra != nil {
		return s.extra.mappings[key]
	}
	return nil
}

func (s *Snapshot) application(id int) *Application {
	if a := s.full.apps[id]; a != nil {
		return a
	}
	if s.extra != nil {
		return s.extra.apps[id]
	}
	return nil
}

func (s *Snapshot) subscription(app, api int) *Subscription {
	k := appAPI{app, api}
	if sub := s.full.subs[k]; sub != nil {
		return sub
	}
	if s.extra != nil {
		return s.extra.subs[k]
	}
	return nil
}

// extraSize is the number of consumer keys read one by one that a snapshot
// holds beside its full read.
func (s *Snapshot) extraSize() int {
	if s.extra == nil {
		return 0
	}
	return len(s.extra.mappings)
}

// withExtra returns a copy of s that also holds the records of one
// targeted read. s is not changed.
func (s *Snapshot) withExtra(data *Data, keyManager string) *Snapshot {
	add := newIndex(data, keyManager)
	merged := &index{
		mappings: make(map[string]*KeyMapping, s.extraSize()+len(add.mappings)),
		apps:     make(map[int]*Application),
		apis:     nil,
		subs:     make(map[appAPI]*Subscription),
	}
	for _, ix := range []*index{s.extra, add} {
		if ix == nil {
			continue
		}
		for k, v := range ix.mappings {
			merged.mappings[k] = v
		}
		for k, v := range ix.apps {
			merged.apps[k] = v
		}
		for k, v := range ix.subs {
			merged.subs[k] = v
		}
	}
	c := *s
	c.extra = merged
	return &c
}
