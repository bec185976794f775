package benchkit

import (
	"encoding/json"
	"fmt"
	"os"
)

// LoadResult is what one load-generator run measured in its window.
type LoadResult struct {
	Mode        string  `json:"mode"`        // none, cycle or fresh
	Connections int     `json:"connections"` // keep-alive connections
	Seconds     float64 `json:"seconds"`     // length of the measured window
	Requests    int64   `json:"requests"`    // answers completed in the window
	Errors      int64   `json:"errors"`      // failed requests in the window
	// ErrorKinds counts the errors by kind ("status 401", "no backend JWT",
	// "transport").
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	FirstError string           `json:"first_error,omitempty"`
	RPS        float64          `json:"rps"`    // answers without error per second
	P50        int64            `json:"p50_ns"` // latency percentiles
	P99        int64            `json:"p99_ns"`
	Max        int64            `json:"max_ns"`
	AccessAlg  string           `json:"access_alg,omitempty"`
	Tokens     int              `json:"tokens"`      // tokens minted or read before the run
	MintedLive int64            `json:"minted_live"` // fresh tokens minted during it
	// CPUPerRequest is the CPU time in µs per answer in the window, by
	// process (Caddy, the upstream, the load generator; "other" is the rest
	// of the machine's busy time), and MachineBusy the share of all cores'
	// time that was busy; absent where /proc could not be read.
	CPUPerRequest map[string]float64 `json:"cpu_us_per_request,omitempty"`
	MachineBusy   float64            `json:"machine_busy,omitempty"`
}

// CryptoRates are the operations per second cryptorate measured on all
// cores.
type CryptoRates struct {
	Cores     int     `json:"cores"`
	RSASign   float64 `json:"rsa2048_pkcs1v15_sign"` // RS256 backend JWT signing
	ES256Sign float64 `json:"es256_sign"`            // ES256 backend JWT signing
	VerifyAlg string  `json:"verify_alg"`            // the access tokens' alg
	Verify    float64 `json:"verify"`                // one access-token signature check
	// Validate is the rate of the project's validator.Validate on the same
	// tokens with its cache off: parsing and claim checks besides the
	// signature. For information; the prediction uses Verify.
	Validate float64 `json:"validate"`
}

// Predict is the all-miss rate: one request costs what a plain
// proxied request costs, plus one inbound verification, plus one signature.
func Predict(base, sign, verify float64) float64 {
	if base <= 0 || sign <= 0 || verify <= 0 {
		return 0
	}
	return 1 / (1/base + 1/sign + 1/verify)
}

// WriteJSON writes v to path as one line of JSON.
func WriteJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing result: %w", err)
	}
	return nil
}

// ReadJSON reads the JSON in path into v.
func ReadJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading result: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}
