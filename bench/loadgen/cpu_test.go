package main

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseWatched(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []watched
		bad  bool
	}{
		{in: "", want: nil},
		{in: "caddy=12", want: []watched{{"caddy", 12}}},
		{in: "caddy=12,upstream=34", want: []watched{{"caddy", 12}, {"upstream", 34}}},
		{in: "caddy", bad: true},
		{in: "caddy=", bad: true},
		{in: "=12", bad: true},
		{in: "caddy=0", bad: true},
		{in: "caddy=x", bad: true},
		{in: "loadgen=12", bad: true},
		{in: "caddy=12,", bad: true},
	} {
		got, err := parseWatched(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("parseWatched(%q): error %v, want an error: %v", tc.in, err, tc.bad)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("parseWatched(%q) = %v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseWatched(%q) = %v, want %v", tc.in, got, tc.want)
			}
		}
	}
}

// TestCPUAccounting burns CPU in this process, watched under a name as
// another process would be, and checks that both views of it (getrusage
// and /proc) agree on what it used.
func TestCPUAccounting(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	ws := []watched{{"self", os.Getpid()}}
	a := sampleCPU(ws)
	const burn = 300 * time.Millisecond
	var b cpuSample
	for deadline := time.Now().Add(time.Minute); ; {
		b = sampleCPU(ws)
		if b.procs["loadgen"]-a.procs["loadgen"] >= burn || time.Now().After(deadline) {
			break
		}
	}
	if !a.ok || !b.ok {
		t.Fatal("a /proc reading failed")
	}
	perReq, busy := cpuPerRequest(a, b, 1000)
	// USER_HZ ticks are 10 ms: allow a few of them, in µs per answer.
	if self, own := perReq["self"], perReq["loadgen"]; own < float64(burn.Microseconds())/1000 || self < own-30 || self > own+30 {
		t.Errorf("CPU per answer: /proc says %.0f µs, getrusage %.0f µs; want both at least %d µs and within 30 µs of each other",
			self, own, burn.Microseconds()/1000)
	}
	if busy <= 0 || busy > 1 {
		t.Errorf("machine busy %.2f, want in (0, 1]", busy)
	}
	if perReq, _ := cpuPerRequest(a, b, 0); perReq != nil {
		t.Errorf("no answers: got %v, want nil", perReq)
	}
	if perReq, _ := cpuPerRequest(cpuSample{}, b, 1000); perReq != nil {
		t.Errorf("a failed sample: got %v, want nil", perReq)
	}
}
