package retriever

import (
	"fmt"
	"testing"
)

func TestUsername(t *testing.T) {
	tests := []struct {
		name, sub, want string
	}{
		{"tenant", "admin@carbon.super", "admin"},
		{"email user with tenant", "a@b.com@carbon.super", "a@b.com"},
		{"several @", "x@y@z@tenant.org", "x@y@z"},
		{"no @", "admin", "admin"},
		{"empty", "", ""},
		{"trailing @", "admin@", "admin"},
		{"leading @", "@carbon.super", ""},
		{"only @", "@", ""},
		{"unicode", "jöhn@tenant", "jöhn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Username(tc.sub); got != tc.want {
				t.Errorf("Username(%q) = %q, want %q", tc.sub, got, tc.want)
			}
		})
	}
}

func ExampleUsername() {
	fmt.Println(Username("admin@carbon.super"))
	fmt.Println(Username("a@b.com@carbon.super"))
	fmt.Println(Username("admin"))
	// Output:
	// admin
	// a@b.com
	// admin
}
