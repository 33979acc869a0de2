// Command backend serves a fixed small body on each address it is given:
// the upstreams bench/lb/run.sh puts behind berth's load balancer and nginx.
//
//	go run ./bench/lb/backend -addrs 127.0.0.1:18081,127.0.0.1:18082 [-size 64]
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/berth-dev/berth/bench/internal/benchflag"
)

func main() {
	addrs := flag.String("addrs", "", "comma-separated host:port to serve on")
	size := flag.Int("size", 64, "response body bytes")
	flag.Parse()
	list := benchflag.List(*addrs)
	if len(list) == 0 {
		fmt.Fprintln(os.Stderr, "backend: -addrs is required")
		os.Exit(2)
	}
	body := []byte(strings.Repeat("x", *size))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) })
	errc := make(chan error, len(list))
	for _, a := range list {
		go func() { errc <- http.ListenAndServe(a, h) }()
	}
	fmt.Fprintln(os.Stderr, "backend:", <-errc)
	os.Exit(1)
}
