// Package apimfake is an http.Handler that answers like WSO2 API Manager's
// internal data API (/internal/data/v1), for the tests and the demo. Its
// JSON is written from the field names of API Manager's service definition,
// as generic maps, not from the apimdata package's types.
package apimfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Record is one entry of a list, as API Manager writes it.
type Record = map[string]any

// Data is what the fake serves.
type Data struct {
	APIs, Applications, KeyMappings, Subscriptions []Record
	Revoked                                        []Record
}

// Server answers /internal/data/v1 reads with Basic auth Username:Password
// and the xWSO2Tenant header Tenant.
type Server struct {
	Username, Password, Tenant string

	mu     sync.Mutex
	data   Data
	status int // non-zero: every read answers this status
	calls  map[string]int
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
	s.mu.Lock()
	defer s.mu.Unlock()
	key := path
	if r.URL.RawQuery != "" {
		key += "?" + r.URL.RawQuery
	}
	s.calls[key]++
	user, pass, _ := r.BasicAuth()
	switch {
	case user != s.Username || pass != s.Password:
		writeJSON(w, http.StatusUnauthorized, Record{"code": 401, "message": "Unauthenticated"})
		return
	case r.Header.Get("xWSO2Tenant") != s.Tenant:
		writeJSON(w, http.StatusBadRequest, Record{"code": 400, "message": "unknown tenant"})
		return
	case s.status != 0:
		writeJSON(w, s.status, Record{"code": s.status, "message": "unavailable"})
		return
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
		revoked := s.data.Revoked
		if revoked == nil {
			revoked = []Record{}
		}
		writeJSON(w, http.StatusOK, revoked)
		return
	default:
		http.NotFound(w, r)
		return
	}
	if list == nil {
		list = []Record{}
	}
	writeJSON(w, http.StatusOK, Record{"count": len(list), "list": list})
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
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
