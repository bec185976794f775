// Package histogram counts latencies in log-linear buckets, so a load run of
// any length keeps a fixed, small amount of memory and still reports
// percentiles to within 1%.
package histogram

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the precision: each power of two is split into 2^subBits
// buckets, so a bucket is at most 1/128 of its values wide. Values below
// 2^subBits nanoseconds are counted exactly.
const subBits = 7

const (
	subCount = 1 << subBits
	groups   = 64 - subBits + 1 // enough for every non-negative int64
)

// Histogram counts durations. The zero value is empty and ready to use; it
// is not safe for concurrent use (give each worker its own and Merge them).
type Histogram struct {
	counts   [groups * subCount]uint64
	n        uint64
	min, max time.Duration
}

// index is the bucket of v (v >= 0).
func index(v uint64) int {
	if v < subCount {
		return int(v)
	}
	k := bits.Len64(v) - 1 // v is in [2^k, 2^(k+1)), k >= subBits
	shift := k - subBits
	return (shift+1)<<subBits + int(v>>shift) - subCount
}

// lower is the smallest value of bucket i, and width its size.
func lower(i int) (lo, width uint64) {
	g, sub := i>>subBits, uint64(i&(subCount-1))
	if g == 0 {
		return sub, 1
	}
	return (subCount + sub) << (g - 1), 1 << (g - 1)
}

// Record counts one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[index(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
}

// Merge adds the counts of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
}

// Count is the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded duration, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the q-quantile (0 < q <= 1) by the nearest-rank rule: the
// middle of the bucket holding the ceil(q*n)-th smallest duration, kept
// within the recorded minimum and maximum. It is 0 when h is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(1, min(rank, h.n))
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			lo, w := lower(i)
			v := time.Duration(lo + w/2)
			return max(h.min, min(v, h.max))
		}
	}
	return h.max
}
