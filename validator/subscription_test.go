package validator

import (
	"encoding/json"
	"testing"
)

func TestMatchSubscription(t *testing.T) {
	api := &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"}
	full := `{"name":"PizzaShackAPI","version":"1.0.0","context":"/pizzashack/1.0.0","publisher":"admin",` +
		`"subscriptionTier":"Gold","subscriberTenantDomain":"carbon.super"}`
	tests := []struct {
		name string
		raw  string
		want *Subscription // nil: no match
	}{
		{"all fields", `[` + full + `]`, &Subscription{Name: "PizzaShackAPI", Version: "1.0.0",
			Context: "/pizzashack/1.0.0", Publisher: "admin", SubscriptionTier: "Gold", SubscriberTenantDomain: "carbon.super"}},
		{"any version", `[{"name":"PizzaShackAPI","version":"*","subscriptionTier":"Bronze"}]`,
			&Subscription{Name: "PizzaShackAPI", Version: "*", SubscriptionTier: "Bronze"}},
		{"the first match", `[{"name":"Other","version":"1.0.0"},{"name":"PizzaShackAPI","version":"*","subscriptionTier":"A"},` +
			`{"name":"PizzaShackAPI","version":"1.0.0","subscriptionTier":"B"}]`,
			&Subscription{Name: "PizzaShackAPI", Version: "*", SubscriptionTier: "A"}},
		{"escaped names and values", `[{"n\u0061me":"Pizza\u0053hackAPI","version":"1.0.0","subscriptionTier":"G\u00f6ld"}]`,
			&Subscription{Name: "PizzaShackAPI", Version: "1.0.0", SubscriptionTier: "Göld"}},
		{"null entries and fields", `[null,{"name":"PizzaShackAPI","version":"1.0.0","publisher":null}]`,
			&Subscription{Name: "PizzaShackAPI", Version: "1.0.0"}},
		{"other members of any type", `[{"name":"PizzaShackAPI","version":"1.0.0","extra":{"a":[1]},"n":2}]`,
			&Subscription{Name: "PizzaShackAPI", Version: "1.0.0"}},
		{"white space", ` [ { "name" : "PizzaShackAPI" , "version" : "1.0.0" } ] `,
			&Subscription{Name: "PizzaShackAPI", Version: "1.0.0"}},
		{"other version", `[{"name":"PizzaShackAPI","version":"2.0.0"}]`, nil},
		{"other API", `[{"name":"Other","version":"1.0.0"}]`, nil},
		{"no version", `[{"name":"PizzaShackAPI"}]`, nil},
		{"names in another case", `[{"Name":"PizzaShackAPI","VERSION":"1.0.0"}]`, nil},
		{"empty list", `[]`, nil},
		{"null", `null`, nil},
		{"an object", full, nil},
		{"a string", `"PizzaShackAPI"`, nil},
		{"an entry of another type", `[` + full + `,1]`, nil},
		{"an entry that is a list", `[[` + full + `]]`, nil},
		{"a field of another type", `[` + full + `,{"name":"Other","version":2}]`, nil},
		{"a name that is a list", `[{"name":["PizzaShackAPI"],"version":"1.0.0"}]`, nil},
		{"absent", ``, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := matchSubscription(json.RawMessage(tc.raw), api)
			switch {
			case got == nil && tc.want == nil:
			case got == nil || tc.want == nil || *got != *tc.want:
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
