package sockopt

import (
	"net"
	"runtime"
	"testing"
	"time"
)

func pair(t *testing.T) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestCloseNowWakesABlockedRead(t *testing.T) {
	client, server := pair(t)
	if !SetBlocking(server, true, time.Minute) {
		t.Fatal("SetBlocking failed on a TCP connection")
	}
	// The socket works in blocking mode.
	client.Write([]byte("x"))
	buf := make([]byte, 1)
	if n, err := server.Read(buf); n != 1 || err != nil {
		t.Fatalf("read %d %v", n, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := server.Read(buf) // blocks in read(2): nothing is sent
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	closed := make(chan struct{})
	go func() {
		CloseNow(server)
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("CloseNow did not return while a read was blocked")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the blocked read returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked read was not woken")
	}
}

func TestSetBlockingBackAndForth(t *testing.T) {
	client, server := pair(t)
	if !SetBlocking(server, true, 0) || !SetBlocking(server, false, 0) {
		t.Fatal("SetBlocking failed")
	}
	// Back on the poller, deadlines work again.
	server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := server.Read(make([]byte, 1)); err == nil {
		t.Fatal("read returned without data")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read error %v, want a timeout", err)
	}
	_ = client
	if SetBlocking(&net.UnixConn{}, true, 0) {
		t.Fatal("SetBlocking claims to have switched a non-TCP connection")
	}
}

func TestSlots(t *testing.T) {
	var s Slots
	limit := runtime.GOMAXPROCS(0)
	for range limit {
		if !s.Take() {
			t.Fatal("a slot was refused below the limit")
		}
	}
	if s.Take() {
		t.Fatalf("more than %d slots", limit)
	}
	s.Release()
	if s.InUse() != limit-1 || !s.Take() {
		t.Fatal("a released slot cannot be taken again")
	}
}
