package controllertest

import "sync"

// Counts counts events by key, such as a controller's reconciles; it is
// safe for concurrent use, and its zero value is ready to use.
type Counts struct {
	mu sync.Mutex
	n  map[string]int
}

// Add counts one for key.
func (c *Counts) Add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
}

// Get is the count of key.
func (c *Counts) Get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}
