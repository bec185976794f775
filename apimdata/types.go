// Package apimdata reads WSO2 API Manager's internal data REST API
// ({server_url}/internal/data/v1: APIs, applications, consumer-key mappings,
// subscriptions and revoked tokens) and keeps it as immutable, indexed
// snapshots, as WSO2's gateways do from API Manager 3.2 on, when access
// tokens no longer carry the application and its subscriptions.
//
// A Store re-reads everything on a period and swaps the new Snapshot in
// atomically; lookups read the current one without locks or allocations
// and never wait on a full read (only a consumer key no snapshot holds
// waits, for its own targeted read). Answers are decoded as they stream,
// within a cap on the data of one read. The package does not depend on
// Caddy.
package apimdata

import "encoding/json"

// Subscription states, as API Manager writes them (APIConstants.SubscriptionStatus).
const (
	StateUnblocked         = "UNBLOCKED"
	StateBlocked           = "BLOCKED"
	StateProdOnlyBlocked   = "PROD_ONLY_BLOCKED"
	StateOnHold            = "ON_HOLD"
	StateRejected          = "REJECTED"
	StateTierUpdatePending = "TIER_UPDATE_PENDING"
)

// Key types of a consumer-key mapping.
const (
	KeyTypeProduction = "PRODUCTION"
	KeyTypeSandbox    = "SANDBOX"
)

// APIStatusBlocked is the lifecycle status of an API that no one may call.
const APIStatusBlocked = "BLOCKED"

// API is one entry of GET /apis.
type API struct {
	ID       int    `json:"apiId"`
	UUID     string `json:"uuid"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Context  string `json:"context"`
	Provider string `json:"provider"`
	Policy   string `json:"policy"`
	Status   string `json:"status"`
}

// Application is one entry of GET /applications.
type Application struct {
	ID         int    `json:"id"`
	UUID       string `json:"uuid"`
	Name       string `json:"name"`
	Subscriber string `json:"subName"`
	Policy     string `json:"policy"`
	TokenType  string `json:"tokenType"`
	// Attributes are the application's attributes, a JSON object as API
	// Manager writes it (nil when absent).
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

// KeyMapping is one entry of GET /application-key-mappings: which
// application a consumer key (OAuth client ID) belongs to.
type KeyMapping struct {
	ApplicationID   int    `json:"applicationId"`
	ApplicationUUID string `json:"applicationUUID"`
	ConsumerKey     string `json:"consumerKey"`
	KeyType         string `json:"keyType"`
	KeyManager      string `json:"keyManager"`
}

// Subscription is one entry of GET /subscriptions: an application's
// subscription to an API.
type Subscription struct {
	ID              int    `json:"subscriptionId"`
	UUID            string `json:"subscriptionUUID"`
	APIID           int    `json:"apiId"`
	APIUUID         string `json:"apiUUID"`
	ApplicationID   int    `json:"appId"`
	ApplicationUUID string `json:"applicationUUID"`
	PolicyID        string `json:"policyId"`
	State           string `json:"subscriptionState"`
}

// RevokedToken is one entry of GET /revokedjwt.
type RevokedToken struct {
	// Signature is the revoked JWT's third part, as transmitted.
	Signature string `json:"jwt_signature"`
	// ExpiryMillis is the token's expiry, in milliseconds since the epoch.
	ExpiryMillis int64 `json:"expiry_time"`
}

// Subject entity types of /revokedjwt's revokedJWTSubjectEntityList.
const (
	// EntityTypeUserID names a user: the entry covers the tokens whose sub
	// is its entity_id.
	EntityTypeUserID = "USER_ID"
	// EntityTypeClientID names an OAuth client: the entry covers the
	// tokens whose consumer key is its entity_id.
	EntityTypeClientID = "CLIENT_ID"
)

// RevokedConsumerKey is one entry of /revokedjwt's revokedJWTConsumerKeyList
// (API Manager 4.x): every token of the consumer key issued at or before
// RevocationMillis is revoked. The JSON members are API Manager's
// (RevokedJWTConsumerKeyDTO); see UnmarshalJSON for the other forms read.
type RevokedConsumerKey struct {
	// ConsumerKey is the OAuth client ID whose tokens are revoked.
	ConsumerKey string `json:"consumer_key"`
	// RevocationMillis is when the tokens were revoked, in milliseconds
	// since the epoch; an entry without one is ignored.
	RevocationMillis int64 `json:"revocation_time"`
	// Type is API Manager's type of the revocation; it is not used.
	Type string `json:"type"`
	// Organization is the tenant of the consumer key; it is not used (API
	// Manager answers a tenant with its own entries, and the super tenant
	// with every tenant's).
	Organization string `json:"organization"`
	// AppOnly, is_revoke_app_only in older releases, makes the entry apply
	// only to tokens whose aut is APPLICATION.
	AppOnly bool `json:"is_revoke_app_only"`
}

// RevokedSubjectEntity is one entry of /revokedjwt's
// revokedJWTSubjectEntityList (API Manager 4.x): every token of a user
// (EntityTypeUserID, matched with the token's sub) or of an OAuth client
// (EntityTypeClientID, matched with its consumer key) issued at or before
// RevocationMillis is revoked. The JSON members are API Manager's
// (RevokedJWTSubjectEntityDTO); see UnmarshalJSON for the other forms read.
type RevokedSubjectEntity struct {
	// EntityID is the user's ID (as the tokens' sub) or the client ID.
	EntityID string `json:"entity_id"`
	// EntityType is EntityTypeUserID or EntityTypeClientID; an entry of
	// another type is ignored.
	EntityType string `json:"entity_type"`
	// RevocationMillis is when the tokens were revoked, in milliseconds
	// since the epoch; an entry without one is ignored.
	RevocationMillis int64 `json:"revocation_time"`
	// Organization is the tenant of the entity; it is not used.
	Organization string `json:"organization"`
}
