// Command api serves the short link pages and JSON API.
package main

import (
	"log"
	"net/http"
	"os"
	"time"

	"github.com/example/shortlinks/internal/store"
	"github.com/example/shortlinks/internal/web"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	s := store.New(
		store.Link{Slug: "go", Target: "https://go.dev/"},
		store.Link{Slug: "docs", Target: "https://pkg.go.dev/"},
	)
	srv := &http.Server{
		Addr:              ":" + port,
		Handler:           web.Handler(s),
		ReadHeaderTimeout: 5 * time.Second,
	}
	log.Printf("api listening on %s", srv.Addr)
	log.Fatal(srv.ListenAndServe())
}
