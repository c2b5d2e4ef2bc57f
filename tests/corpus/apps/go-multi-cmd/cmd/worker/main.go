// Command worker periodically reports link statistics.
package main

import (
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	interval := 30 * time.Second
	if v := os.Getenv("WORKER_INTERVAL"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			interval = d
		}
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	log.Printf("worker: reporting every %s", interval)
	for {
		select {
		case <-ticker.C:
			log.Printf("worker: tick at %s", time.Now().UTC().Format(time.RFC3339))
		case <-stop:
			log.Print("worker: stopping")
			return
		}
	}
}
