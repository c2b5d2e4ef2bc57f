package store

import "testing"

func TestResolveCountsHits(t *testing.T) {
	s := New(Link{Slug: "go", Target: "https://go.dev"})
	for i := 0; i < 3; i++ {
		got, err := s.Resolve("go")
		if err != nil || got != "https://go.dev" {
			t.Fatalf("Resolve = %q, %v", got, err)
		}
	}
	if hits := s.All()[0].Hits; hits != 3 {
		t.Fatalf("hits = %d, want 3", hits)
	}
}

func TestResolveMissing(t *testing.T) {
	if _, err := New().Resolve("nope"); err != ErrNotFound {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}
