package lb

import (
	"io"
	"net"
	"net/http"
	"testing"
)

// BenchmarkProxy is keep-alive GETs through an HTTP listener to one backend.
func BenchmarkProxy(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	p := New(nil, nil)
	defer p.Close()
	err = p.Apply(Config{Listeners: []Listener{{Key: "l", Protocol: "HTTP", Addr: "127.0.0.1:0", Default: Action{TargetGroup: "tg"}}}},
		[]TargetGroup{{Key: "tg", Targets: []Target{{ID: "a", Addr: ln.Addr().String()}}}})
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + p.Addr("l") + "/"
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
