package lb

import (
	"bufio"
	"net"
	"runtime"
	"testing"
)

// TestProxyAllocations: a keep-alive request through an HTTP listener
// allocates nothing (the whole process is counted: a raw client and a raw
// target that allocate nothing themselves).
func TestProxyAllocations(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				br := bufio.NewReader(c)
				resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				for {
					for {
						l, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(l) <= 2 {
							break
						}
					}
					c.Write(resp)
				}
			}()
		}
	}()
	p, _ := newPlane(t)
	err = p.Apply(Config{Listeners: []Listener{{Key: "l", Protocol: "HTTP", Addr: "127.0.0.1:0", Default: Action{TargetGroup: "tg"}}}},
		[]TargetGroup{{Key: "tg", Targets: []Target{{ID: "a", Addr: ln.Addr().String()}}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr("l"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: y\r\n\r\n")
	buf := make([]byte, 4096)
	one := func() {
		c.Write(req)
		n := 0
		for n < 10 {
			k, _ := br.Read(buf)
			n += k
		}
	}
	for range 100 {
		one()
	}
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for range 10000 {
		one()
	}
	runtime.ReadMemStats(&b)
	if per := float64(b.Mallocs-a.Mallocs) / 10000; per >= 0.5 {
		t.Fatalf("%.2f allocations per request", per)
	}
}
