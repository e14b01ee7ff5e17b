package parallel

import "sync"

// FreeList keeps *T values for reuse across calls: scratch that a hot path
// gets and puts back. Unlike a sync.Pool it never drops them, so the path
// allocates only while the list grows to the most values in use at once.
// It is safe for concurrent use; the zero value is an empty list.
type FreeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

// Get returns a value put back earlier, or a new zero one.
func (l *FreeList[T]) Get() *T {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.items); n > 0 {
		v := l.items[n-1]
		l.items = l.items[:n-1]
		return v
	}
	return new(T)
}

// Put keeps v for a later Get.
func (l *FreeList[T]) Put(v *T) {
	l.mu.Lock()
	l.items = append(l.items, v)
	l.mu.Unlock()
}
