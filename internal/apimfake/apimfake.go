// Package apimfake is an http.Handler that answers like WSO2 API Manager's
// internal data API (/internal/data/v1), for the tests and the demo. Its
// JSON is written from the field names of API Manager's service definition,
// as generic maps, not from the apimdata package's types.
package apimfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Record is one entry of a list, as API Manager writes it.
type Record = map[string]any

// Data is what the fake serves. /revokedjwt answers the array of Revoked
// (API Manager 3.2 to 4.1) while RevokedConsumerKeys and RevokedSubjects
// are both nil, and otherwise the object form of later releases:
// {"revokedJWTList":[…],"revokedJWTConsumerKeyList":[…],"revokedJWTSubjectEntityList":[…]}.
type Data struct {
	APIs, Applications, KeyMappings, Subscriptions []Record
	Revoked                                        []Record
	// RevokedConsumerKeys are revokedJWTConsumerKeyList's entries (see
	// RevokedConsumerKey).
	RevokedConsumerKeys []Record
	// RevokedSubjects are revokedJWTSubjectEntityList's entries (see
	// RevokedSubjectEntity).
	RevokedSubjects []Record
}

// Server answers /internal/data/v1 reads with Basic auth Username:Password
// and the xWSO2Tenant header Tenant. Its lock is never held while a read
// blocks or streams.
type Server struct {
	Username, Password, Tenant string

	mu      sync.Mutex
	data    Data
	status  int // non-zero: every read answers this status
	calls   map[string]int
	hold    chan struct{}            // non-nil while held: closed by its release
	holds   func(*http.Request) bool // the reads hold blocks; nil: all
	waiting int                      // reads blocked by a hold
	endless bool                     // every read answers elements forever
}

// New returns a server holding data.
func New(username, password, tenant string, data Data) *Server {
	return &Server{Username: username, Password: password, Tenant: tenant, data: data, calls: map[string]int{}}
}

// Update changes the data under the server's lock.
func (s *Server) Update(change func(*Data)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(&s.data)
}

// SetStatus makes every read answer status with a fault body (0: normal).
func (s *Server) SetStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// SetEndless makes every read (when on) answer 200 application/json with
// the start of a valid answer and then elements forever, until the client
// goes away: {"count":1,"list":[{…},{…},… on the list endpoints and
// [{…},{…},… on /revokedjwt.
func (s *Server) SetEndless(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endless = on
}

// SetCredentials changes the Basic credentials the server accepts.
func (s *Server) SetCredentials(username, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Username, s.Password = username, password
}

// Hold makes every read that arrives from now on block until release is
// called (or until the read's request ends); the read is counted when it
// arrives and answered, from the data of that moment, when released.
// release may be called more than once. A second Hold before release
// replaces the first for the reads that arrive afterwards.
func (s *Server) Hold() (release func()) { return s.HoldMatching(nil) }

// HoldMatching is Hold for the reads match returns true for.
func (s *Server) HoldMatching(match func(*http.Request) bool) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	held := make(chan struct{})
	s.hold, s.holds = held, match
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.hold == held {
				s.hold = nil
			}
			s.mu.Unlock()
			close(held)
		})
	}
}

// Waiting tells how many reads a Hold blocks now.
func (s *Server) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// Calls returns how many times path with query (such as
// "/application-key-mappings?consumerKey=abc") was read.
func (s *Server) Calls(pathAndQuery string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[pathAndQuery]
}

// ServeHTTP answers one read.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/internal/data/v1")
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	key := path
	if r.URL.RawQuery != "" {
		key += "?" + r.URL.RawQuery
	}
	s.mu.Lock()
	s.calls[key]++
	held := s.hold
	if held != nil && s.holds != nil && !s.holds(r) {
		held = nil
	}
	if held != nil {
		s.waiting++
	}
	s.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-r.Context().Done():
		}
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
		if r.Context().Err() != nil {
			return
		}
	}
	status, answer, endless := s.answer(r, path)
	switch {
	case status == 0:
		http.NotFound(w, r)
	case endless:
		streamForever(w, r, path)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(answer)
	}
}

// answer is what a read of path gets, encoded under the server's lock, or
// that it is to be endless; status 0 is an unknown path.
func (s *Server) answer(r *http.Request, path string) (status int, answer []byte, endless bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	user, pass, _ := r.BasicAuth()
	switch {
	case user != s.Username || pass != s.Password:
		return http.StatusUnauthorized, encode(Record{"code": 401, "message": "Unauthenticated"}), false
	case r.Header.Get("xWSO2Tenant") != s.Tenant:
		return http.StatusBadRequest, encode(Record{"code": 400, "message": "unknown tenant"}), false
	case s.status != 0:
		return s.status, encode(Record{"code": s.status, "message": "unavailable"}), false
	}
	if _, known := endlessElement[path]; !known {
		return 0, nil, false
	}
	if s.endless {
		return http.StatusOK, nil, true
	}
	q := r.URL.Query()
	var list []Record
	switch path {
	case "/apis":
		list = s.data.APIs
	case "/applications":
		list = filter(s.data.Applications, "id", q.Get("appId"))
	case "/application-key-mappings":
		list = filter(s.data.KeyMappings, "consumerKey", q.Get("consumerKey"))
		list = filter(list, "keyManager", q.Get("keymanager"))
	case "/subscriptions":
		list = filter(s.data.Subscriptions, "appId", q.Get("appId"))
	case "/revokedjwt":
		revoked := orEmpty(s.data.Revoked)
		if s.data.RevokedConsumerKeys == nil && s.data.RevokedSubjects == nil {
			return http.StatusOK, encode(revoked), false
		}
		return http.StatusOK, encode(Record{
			"revokedJWTList":              revoked,
			"revokedJWTConsumerKeyList":   orEmpty(s.data.RevokedConsumerKeys),
			"revokedJWTSubjectEntityList": orEmpty(s.data.RevokedSubjects),
		}), false
	}
	if list == nil {
		list = []Record{}
	}
	return http.StatusOK, encode(Record{"count": len(list), "list": list}), false
}

// endlessElement is the element an endless answer of each path repeats.
var endlessElement = map[string]Record{
	"/apis":                     API(1, "Endless", "1.0.0", "/endless/1.0.0", "PUBLISHED"),
	"/applications":             Application(1, "EndlessApplication", "admin", "Unlimited"),
	"/application-key-mappings": KeyMapping(1, "endlessKey", "PRODUCTION", "Resident Key Manager"),
	"/subscriptions":            Subscription(1, 1, 1, "Gold", "UNBLOCKED"),
	"/revokedjwt":               Revoked("endlessSignature", 1893456000000),
}

// streamForever writes the start of a valid answer of path, then its
// element again and again until the client goes away.
func streamForever(w http.ResponseWriter, r *http.Request, path string) {
	prefix := `{"count":1,"list":[`
	if path == "/revokedjwt" {
		prefix = "["
	}
	elem := encode(endlessElement[path])
	elem[len(elem)-1] = ',' // the encoder's newline
	chunk := make([]byte, 0, 32<<10)
	for len(chunk)+len(elem) <= cap(chunk) {
		chunk = append(chunk, elem...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, prefix); err != nil {
		return
	}
	for r.Context().Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// orEmpty is list, or an empty list for nil (API Manager writes [], not null).
func orEmpty(list []Record) []Record {
	if list == nil {
		return []Record{}
	}
	return list
}

// filter keeps the records whose field equals want, as text; want "" keeps all.
func filter(list []Record, field, want string) []Record {
	if want == "" {
		return list
	}
	var out []Record
	for _, rec := range list {
		v := rec[field]
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case int:
			s = strconv.Itoa(v)
		default:
			b, _ := json.Marshal(v)
			s = string(b)
		}
		if s == want {
			out = append(out, rec)
		}
	}
	return out
}

// encode is v as JSON, with a newline as json.Encoder ends it.
func encode(v any) []byte {
	b, _ := json.Marshal(v)
	return append(b, '\n')
}

// Records of one application subscribed to APIs: the helpers below build
// the shapes API Manager returns.

// API is an /apis entry.
func API(id int, name, version, context, status string) Record {
	return Record{"apiId": id, "uuid": "api-uuid-" + strconv.Itoa(id), "provider": "admin", "name": name,
		"version": version, "context": context, "policy": "Unlimited", "apiType": "HTTP",
		"isDefaultVersion": false, "status": status, "urlMappings": []Record{}}
}

// Application is an /applications entry.
func Application(id int, name, subscriber, policy string) Record {
	return Record{"id": id, "uuid": "app-uuid-" + strconv.Itoa(id), "name": name, "subName": subscriber,
		"policy": policy, "tokenType": "JWT", "groupIds": []string{}, "attributes": Record{}}
}

// KeyMapping is an /application-key-mappings entry.
func KeyMapping(appID int, consumerKey, keyType, keyManager string) Record {
	return Record{"applicationId": appID, "applicationUUID": "app-uuid-" + strconv.Itoa(appID),
		"consumerKey": consumerKey, "keyType": keyType, "keyManager": keyManager}
}

// Subscription is a /subscriptions entry.
func Subscription(id, apiID, appID int, policy, state string) Record {
	return Record{"subscriptionId": id, "subscriptionUUID": "sub-uuid-" + strconv.Itoa(id),
		"apiId": apiID, "apiUUID": "api-uuid-" + strconv.Itoa(apiID), "appId": appID,
		"applicationUUID": "app-uuid-" + strconv.Itoa(appID), "policyId": policy, "subscriptionState": state,
		"timeStamp": 1700000000000}
}

// Revoked is a /revokedjwt entry.
func Revoked(signature string, expiryMillis int64) Record {
	return Record{"jwt_signature": signature, "expiry_time": expiryMillis}
}

// Entity types of a revokedJWTSubjectEntityList entry.
const (
	EntityUserID   = "USER_ID"
	EntityClientID = "CLIENT_ID"
)

// RevokedConsumerKey is a revokedJWTConsumerKeyList entry of /revokedjwt's
// object form (API Manager 4.x RevokedJWTConsumerKeyDTO): every token of
// consumerKey issued at or before revocationMillis is revoked. type is
// null, as API Manager leaves it.
func RevokedConsumerKey(consumerKey string, revocationMillis int64) Record {
	return Record{"consumer_key": consumerKey, "revocation_time": revocationMillis, "type": nil,
		"organization": "carbon.super"}
}

// RevokedConsumerKeyAppOnly is RevokedConsumerKey as an older release
// writes it with is_revoke_app_only set: it covers only the tokens whose
// aut is APPLICATION.
func RevokedConsumerKeyAppOnly(consumerKey string, revocationMillis int64) Record {
	return Record{"consumer_key": consumerKey, "revocation_time": revocationMillis, "type": nil,
		"tenant_id": "-1234", "is_revoke_app_only": true}
}

// RevokedSubjectEntity is a revokedJWTSubjectEntityList entry of
// /revokedjwt's object form (API Manager 4.x RevokedJWTSubjectEntityDTO):
// every token of the user (EntityUserID, by sub) or of the client
// (EntityClientID, by consumer key) entityID issued at or before
// revocationMillis is revoked.
func RevokedSubjectEntity(entityID, entityType string, revocationMillis int64) Record {
	return Record{"entity_id": entityID, "entity_type": entityType, "revocation_time": revocationMillis,
		"organization": "carbon.super"}
}
