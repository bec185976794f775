package apimdata_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/apimdata"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
)

// The size of API Manager the benchmarks read: the figures.
const (
	benchAPIs          = 1000
	benchApplications  = 50000
	benchSubscriptions = 100000
)

// bigServer serves a data API of benchApplications applications with one
// key each, two subscriptions each, over benchAPIs APIs; the answers are
// encoded once.
func bigServer(b *testing.B) *httptest.Server {
	b.Helper()
	var d apimfake.Data
	for i := range benchAPIs {
		d.APIs = append(d.APIs, apimfake.API(i, fmt.Sprintf("API%d", i), "1.0.0", fmt.Sprintf("/api%d/1.0.0", i), "PUBLISHED"))
	}
	for i := range benchApplications {
		d.Applications = append(d.Applications, apimfake.Application(i, fmt.Sprintf("app-%d", i), fmt.Sprintf("user%d", i), "Unlimited"))
		d.KeyMappings = append(d.KeyMappings, apimfake.KeyMapping(i, fmt.Sprintf("key%08d", i), "PRODUCTION", "Resident Key Manager"))
		for j := range benchSubscriptions / benchApplications {
			d.Subscriptions = append(d.Subscriptions, apimfake.Subscription(len(d.Subscriptions), (i+j)%benchAPIs, i, "Gold", "UNBLOCKED"))
		}
	}
	answers := map[string][]byte{}
	for path, list := range map[string][]apimfake.Record{"/apis": d.APIs, "/applications": d.Applications,
		"/application-key-mappings": d.KeyMappings, "/subscriptions": d.Subscriptions} {
		answers[apimdata.DataPath+path], _ = json.Marshal(map[string]any{"count": len(list), "list": list})
	}
	answers[apimdata.DataPath+"/revokedjwt"] = []byte(`[]`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answers[r.URL.Path])
	}))
	b.Cleanup(srv.Close)
	return srv
}

func readBig(b *testing.B, srv *httptest.Server) *apimdata.Snapshot {
	b.Helper()
	d, err := readAll(b, srv.URL, apimdata.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return apimdata.NewSnapshot(d, "", time.Time{})
}

// BenchmarkSnapshotCheck is one subscription check in a snapshot of the
// issue's size: it must not allocate.
func BenchmarkSnapshotCheck(b *testing.B) {
	snap := readBig(b, bigServer(b))
	if c := snap.Counts; c.Subscriptions != benchSubscriptions || c.Applications != benchApplications || c.KeyMappings != benchApplications {
		b.Fatalf("counts %+v", c)
	}
	keys := make([]string, 1024)
	apis := make([]string, len(keys))
	for i := range keys {
		app := i * 37 % benchApplications
		keys[i] = fmt.Sprintf("key%08d", app)
		apis[i] = fmt.Sprintf("API%d", app%benchAPIs)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if r := snap.Check(keys[i%len(keys)], apis[i%len(keys)], "1.0.0"); r.Outcome != apimdata.Pass {
			b.Fatalf("%s: %v", keys[i%len(keys)], r.Outcome)
		}
	}
}

// BenchmarkFullRead reads and indexes the snapshot (five HTTP
// reads on loopback, decoding, indexing) and reports the heap the
// snapshot keeps.
func BenchmarkFullRead(b *testing.B) {
	srv := bigServer(b)
	var before, after runtime.MemStats
	var kept *apimdata.Snapshot
	for b.Loop() {
		kept = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		kept = readBig(b, srv)
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-heap")
	runtime.KeepAlive(kept)
}
