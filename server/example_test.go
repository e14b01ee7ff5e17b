package server_test

import (
	"log"
	"net/http"
	"time"

	"github.com/crd-ad/crd/server"
)

// A Go program serves a model the way `crd serve` does: the Server is an
// http.Handler, so it can also be mounted under a prefix of a larger mux.
func Example() {
	s := server.New(server.Options{MaxBatch: 8, MaxWait: 5 * time.Millisecond, QueueSize: 32})
	defer s.Close()
	if err := s.AddModel("ball_screw", "ball_screw.crd"); err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Addr: "127.0.0.1:8080", Handler: s, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	log.Fatal(hs.ListenAndServe())
}
