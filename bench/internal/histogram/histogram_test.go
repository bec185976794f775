package histogram

import (
	"math"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 123456789, 1 << 40, math.MaxInt64}
	for v := uint64(1); v < 1<<20; v = v*3/2 + 1 {
		values = append(values, v)
	}
	for _, v := range values {
		i := index(v)
		lo, w := lower(i)
		if v < lo || v-lo >= w {
			t.Fatalf("value %d in bucket %d = [%d, %d+%d)", v, i, lo, lo, w)
		}
		if v >= subCount && float64(w)/float64(v) > 1.0/subCount {
			t.Fatalf("bucket of %d is %d wide, more than 1/%d of it", v, w, subCount)
		}
		if i >= len(Histogram{}.counts) {
			t.Fatalf("value %d maps past the last bucket", v)
		}
	}
}

func TestQuantilesOfUniformLatencies(t *testing.T) {
	var h Histogram
	for us := 1; us <= 100000; us++ {
		h.Record(time.Duration(us) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if diff := math.Abs(float64(got-c.want)) / float64(c.want); diff > 0.01 {
			t.Errorf("q%.2f = %v, want %v within 1%%", c.q, got, c.want)
		}
	}
	if h.Count() != 100000 || h.Max() != 100*time.Millisecond {
		t.Errorf("count %d, max %v", h.Count(), h.Max())
	}
}

func TestSmallValuesAreExact(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{5, 7, 9, 11} {
		h.Record(d)
	}
	if got := h.Quantile(0.5); got != 7 {
		t.Errorf("median of 5 7 9 11 = %v, want 7ns (nearest rank)", got)
	}
	if got := h.Quantile(0.99); got != 11 {
		t.Errorf("p99 = %v, want 11ns", got)
	}
}

func TestMergeAndEmpty(t *testing.T) {
	var a, b, empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Count() != 0 {
		t.Fatal("an empty histogram reports values")
	}
	for range 99 {
		a.Record(time.Millisecond)
	}
	b.Record(time.Second)
	a.Merge(&b)
	a.Merge(&empty)
	if a.Count() != 100 {
		t.Fatalf("count %d after merge, want 100", a.Count())
	}
	if p99 := a.Quantile(0.99); p99 > 1010*time.Microsecond {
		t.Errorf("p99 = %v, want about 1ms (99 of 100 are 1ms)", p99)
	}
	if p100 := a.Quantile(1); p100 != time.Second {
		t.Errorf("max quantile = %v, want 1s", p100)
	}
	a.Record(-time.Second)
	if a.Quantile(0.001) != 0 {
		t.Errorf("a negative duration is not counted as zero")
	}
}
