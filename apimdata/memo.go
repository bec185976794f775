package apimdata

import (
	"container/list"
	"time"
)

// memo remembers the consumer keys read one by one, and when, so that a
// key is read at most once per refresh. It holds at most max keys: entries
// older than refresh are dropped, and when it is full of fresh ones the
// oldest is evicted, so a key is never refused a read because the memo is
// full. It is not safe for concurrent use (the Store's mutex guards it).
type memo struct {
	max   int
	keys  map[string]*list.Element // of *memoEntry
	order list.List                // oldest first
}

type memoEntry struct {
	key string
	at  time.Time
}

func newMemo(max int) *memo {
	return &memo{max: max, keys: make(map[string]*list.Element)}
}

// fresh tells whether key was read less than refresh before now; an older
// entry is dropped.
func (m *memo) fresh(key string, now time.Time, refresh time.Duration) bool {
	el, ok := m.keys[key]
	if !ok {
		return false
	}
	if now.Sub(el.Value.(*memoEntry).at) < refresh {
		return true
	}
	m.remove(el)
	return false
}

// add remembers that key was read at now.
func (m *memo) add(key string, now time.Time, refresh time.Duration) {
	if el, ok := m.keys[key]; ok {
		m.remove(el)
	}
	for el := m.order.Front(); el != nil && (len(m.keys) >= m.max || now.Sub(el.Value.(*memoEntry).at) >= refresh); el = m.order.Front() {
		m.remove(el)
	}
	m.keys[key] = m.order.PushBack(&memoEntry{key: key, at: now})
}

func (m *memo) remove(el *list.Element) {
	delete(m.keys, el.Value.(*memoEntry).key)
	m.order.Remove(el)
}

// clear forgets every key.
func (m *memo) clear() {
	clear(m.keys)
	m.order.Init()
}

// len is the number of keys remembered.
func (m *memo) len() int { return len(m.keys) }
