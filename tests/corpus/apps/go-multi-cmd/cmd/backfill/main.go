// Command backfill prints the default links as JSON lines, for importing elsewhere.
package main

import (
	"encoding/json"
	"flag"
	"os"

	"github.com/example/shortlinks/internal/store"
)

func main() {
	prefix := flag.String("prefix", "", "slug prefix")
	flag.Parse()
	s := store.New(
		store.Link{Slug: *prefix + "go", Target: "https://go.dev/"},
		store.Link{Slug: *prefix + "docs", Target: "https://pkg.go.dev/"},
	)
	enc := json.NewEncoder(os.Stdout)
	for _, l := range s.All() {
		_ = enc.Encode(l)
	}
}
