package main

import (
	"testing"
)

// soakRun makes samples every 5 s for 120 s of load after one idle
// sample: requests grow by rate a second, the live heap follows heap(t),
// the caches hit by hits (a share of the lookups).
func soakRun(rate int64, heap func(t float64) int64, hits float64) []soakSample {
	samples := []soakSample{{T: 0, Requests: 1, LiveAlloc: 5 << 20, LiveInuse: 7 << 20, RSSKiB: 50 << 10}}
	for t := 5.0; t <= 125; t += 5 {
		n := int64(t-5) * rate
		h := int64(float64(n) * hits)
		samples = append(samples, soakSample{
			T: t, Requests: 1 + n, LiveAlloc: heap(t), LiveInuse: heap(t) * 5 / 4, RSSKiB: heap(t) * 3 >> 10,
			ValHit: h, ValMiss: n - h, GenHit: h, GenMiss: n - h,
		})
	}
	return samples
}

func TestJudgeSoak(t *testing.T) {
	lim := soakLimits{tokens: 50000, valCap: 10000, genCap: 10000, growth: 1.10}
	flat := func(t float64) int64 { return min(int64(t), 20) << 21 } // fills, then stays
	growing := func(t float64) int64 { return int64(t) << 20 }       // never stops
	tests := []struct {
		name    string
		samples []soakSample
		ok      bool
	}{
		{"bounded", soakRun(1200, flat, 0), true},
		{"heap growing", soakRun(1200, growing, 0), false},
		{"caches hit like unbounded ones", soakRun(1200, flat, 0.6), false},
		{"too slow to judge by hits, heap flat", soakRun(300, flat, 0.6), true},
		{"too few samples", soakRun(1200, flat, 0)[:3], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := judgeSoak(tc.samples, lim)
			if v.ok() != tc.ok {
				t.Errorf("ok() = %v, want %v (%+v)", v.ok(), tc.ok, v)
			}
		})
	}
	if v := judgeSoak(soakRun(1200, flat, 0), lim); !v.hitsJudged || v.middle[0] < 0 || v.last[1]-v.last[0] < 7 {
		t.Errorf("thirds or hits not judged: %+v", v)
	}
}

func TestMetricLineAndRSS(t *testing.T) {
	name, v, ok := metricLine(`caddy_backend_jwt_requests_total{outcome="ok"} 12345`)
	if !ok || name != `caddy_backend_jwt_requests_total{outcome="ok"}` || v != 12345 {
		t.Errorf("metricLine: %q %v %v", name, v, ok)
	}
	if _, _, ok := metricLine("# HELP x y"); ok {
		t.Error("a comment parsed as a metric")
	}
	if _, v, ok := metricLine("go_memstats_heap_inuse_bytes 4.2e+07"); !ok || v != 4.2e7 {
		t.Errorf("exponent: %v %v", v, ok)
	}
}
