// Package store keeps short links in memory, safe for concurrent use.
package store

import (
	"errors"
	"sort"
	"sync"
	"time"
)

// ErrNotFound is returned when a slug has no link.
var ErrNotFound = errors.New("link not found")

// Link is one short link.
type Link struct {
	Slug    string    `json:"slug"`
	Target  string    `json:"target"`
	Hits    int       `json:"hits"`
	Created time.Time `json:"created"`
}

// Store is an in-memory link store.
type Store struct {
	mu    sync.RWMutex
	links map[string]*Link
}

// New returns a store holding the given links.
func New(seed ...Link) *Store {
	s := &Store{links: make(map[string]*Link)}
	for i := range seed {
		l := seed[i]
		s.links[l.Slug] = &l
	}
	return s
}

// Put adds or replaces a link.
func (s *Store) Put(slug, target string) Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &Link{Slug: slug, Target: target, Created: time.Now().UTC()}
	s.links[slug] = l
	return *l
}

// Resolve returns the target of slug and counts a hit.
func (s *Store) Resolve(slug string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[slug]
	if !ok {
		return "", ErrNotFound
	}
	l.Hits++
	return l.Target, nil
}

// All returns every link, most hits first.
func (s *Store) All() []Link {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Link, 0, len(s.links))
	for _, l := range s.links {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Hits != out[j].Hits {
			return out[i].Hits > out[j].Hits
		}
		return out[i].Slug < out[j].Slug
	})
	return out
}
