package ttlcache

// expiryRecord is an entry's expiry (Unix nanoseconds), the seq it was
// stored with and its key.
type expiryRecord struct {
	exp int64
	seq uint64
	key string
}

// expiryHeap is a binary min-heap of records by expiry.
type expiryHeap []expiryRecord

// push adds r.
func (h *expiryHeap) push(r expiryRecord) {
	*h = append(*h, r)
	h.up(len(*h) - 1)
}

// pop removes and returns the record that expires soonest; h must not be
// empty.
func (h *expiryHeap) pop() expiryRecord {
	old := *h
	top := old[0]
	last := len(old) - 1
	old[0] = old[last]
	old[last] = expiryRecord{} // no reference kept to the key
	*h = old[:last]
	h.down(0)
	return top
}

// init orders h as a heap.
func (h expiryHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h expiryHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].exp <= h[i].exp {
			return
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (h expiryHeap) down(i int) {
	for {
		least := i
		if l := 2*i + 1; l < len(h) && h[l].exp < h[least].exp {
			least = l
		}
		if r := 2*i + 2; r < len(h) && h[r].exp < h[least].exp {
			least = r
		}
		if least == i {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}
