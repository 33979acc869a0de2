// Command testapp is the program inside the image every berth test and
// benchmark runs (see package testimage). It is a multi-call binary: it
// dispatches on the base name of argv[0] (the image installs it as
// /bin/testapp and /bin/sleep) and, when that is "testapp", on argv[1].
//
//	sleep N                   sleep N seconds (float), exit 0; SIGTERM exits 0
//	                          at once unless IGNORE_SIGTERM=1; with
//	                          SAY_READY=1 it prints "ready" once its signal
//	                          handling is in place
//	serve PORT [BODY]         HTTP on :PORT: / answers BODY (default "hello
//	                          from $HOSTNAME"), /health "ok" (500 once
//	                          /health/fail was called), /sleep/SECONDS BODY
//	                          after that long, /env/NAME the variable;
//	                          exits 0 on SIGTERM
//	exit CODE [DELAY]         sleep DELAY seconds, exit CODE
//	get [--retry N] URL       GET (5 s timeout), print the body; exit 0 on 2xx;
//	                          $VARS in URL are expanded; srv://NAME/PATH
//	                          GETs PATH from NAME's first SRV target and port;
//	                          --retry N retries up to N more times, 200 ms apart
//	health URL                get, silently (for HEALTHCHECK)
//	touch PATH, cat PATH, write PATH TEXT, env, echo ARGS...
//	waitfile PATH TIMEOUT     wait until PATH exists (exit 0) or TIMEOUT s (1)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const usage = `usage: testapp COMMAND ARGS...
  sleep N | serve PORT [BODY] | exit CODE [DELAY] | get [--retry N] URL
  health URL | touch PATH | cat PATH | write PATH TEXT | env | echo ARGS...
  waitfile PATH TIMEOUT
`

// commands maps a subcommand to its implementation, which returns the exit
// code (2 when the arguments are wrong).
var commands = map[string]func(args []string) int{
	"sleep":    cmdSleep,
	"serve":    cmdServe,
	"exit":     cmdExit,
	"get":      func(args []string) int { return cmdGet(args, false) },
	"health":   func(args []string) int { return cmdGet(args, true) },
	"touch":    cmdTouch,
	"cat":      cmdCat,
	"write":    cmdWrite,
	"env":      cmdEnv,
	"echo":     cmdEcho,
	"waitfile": cmdWaitfile,
}

// init ignores SIGTERM when asked before main runs, narrowing the window in
// which a stop right after start meets Go's default handling (exit 2, since
// a container's PID 1 cannot die from its own re-raised signal).
func init() {
	if os.Getenv("IGNORE_SIGTERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if name == "testapp" {
		if len(args) == 0 {
			os.Exit(usageError())
		}
		name, args = args[0], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		os.Exit(usageError())
	}
	os.Exit(cmd(args))
}

func usageError() int {
	fmt.Fprint(os.Stderr, usage)
	return 2
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "testapp: "+format+"\n", args...)
	return 1
}

// seconds parses a duration given in (possibly fractional) seconds.
func seconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad number of seconds %q", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// terminated returns a channel closed on SIGTERM or SIGINT.
func terminated() <-chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	return ch
}

func cmdSleep(args []string) int {
	if len(args) != 1 {
		return usageError()
	}
	d, err := seconds(args[0])
	if err != nil {
		return fail("sleep: %v", err)
	}
	var term <-chan os.Signal
	if os.Getenv("IGNORE_SIGTERM") != "1" {
		term = terminated() // (with IGNORE_SIGTERM, init already ignores it)
	}
	if os.Getenv("SAY_READY") == "1" {
		fmt.Println("ready")
	}
	select {
	case <-time.After(d):
	case <-term:
	}
	return 0
}

func cmdServe(args []string) int {
	if len(args) < 1 || len(args) > 2 {
		return usageError()
	}
	body := "hello from " + os.Getenv("HOSTNAME")
	if len(args) == 2 {
		body = args[1]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, body)
	})
	var sick atomic.Bool
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		if sick.Load() {
			http.Error(w, "failing on request", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /health/fail", func(w http.ResponseWriter, _ *http.Request) {
		sick.Store(true)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /sleep/{seconds}", func(w http.ResponseWriter, r *http.Request) {
		secs, err := strconv.ParseFloat(r.PathValue("seconds"), 64)
		if err != nil || secs < 0 || secs > 3600 {
			http.Error(w, "seconds: a number from 0 to 3600", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(time.Duration(secs * float64(time.Second))):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, body)
	})
	mux.HandleFunc("GET /env/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := os.LookupEnv(r.PathValue("name"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, v)
	})
	srv := &http.Server{Addr: ":" + args[0], Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fail("serve: %v", err)
	case <-terminated():
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		return 0
	}
}

func cmdExit(args []string) int {
	if len(args) < 1 || len(args) > 2 {
		return usageError()
	}
	code, err := strconv.Atoi(args[0])
	if err != nil {
		return fail("exit: bad code %q", args[0])
	}
	if len(args) == 2 {
		d, err := seconds(args[1])
		if err != nil {
			return fail("exit: %v", err)
		}
		time.Sleep(d)
	}
	return code
}

func cmdGet(args []string, silent bool) int {
	retries := 0
	if !silent && len(args) == 3 && args[0] == "--retry" {
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 {
			return fail("get: bad retry count %q", args[1])
		}
		retries, args = n, args[2:]
	}
	if len(args) != 1 {
		return usageError()
	}
	// There is no shell in the image: expand $VARS (such as
	// $ECS_CONTAINER_METADATA_URI_V4) here.
	args[0] = os.ExpandEnv(args[0])
	var body []byte
	var err error
	for attempt := 0; ; attempt++ {
		body, err = get(args[0])
		if err == nil || attempt >= retries {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	switch {
	case err != nil && silent:
		return 1
	case err != nil:
		return fail("get %s: %v", args[0], err)
	case !silent:
		os.Stdout.Write(body)
	}
	return 0
}

// get fetches url and returns its body, or an error when the request fails
// or the status is not 2xx. A url srv://NAME/PATH looks NAME's SRV records
// up and fetches http://TARGET:PORT/PATH from the first.
func get(url string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(url, "srv://"); ok {
		name, path, _ := strings.Cut(rest, "/")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, addrs, err := net.DefaultResolver.LookupSRV(ctx, "", "", name)
		cancel()
		if err != nil {
			return nil, err
		}
		url = fmt.Sprintf("http://%s/%s", net.JoinHostPort(strings.TrimSuffix(addrs[0].Target, "."), strconv.Itoa(int(addrs[0].Port))), path)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("status %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

func cmdTouch(args []string) int {
	if len(args) != 1 {
		return usageError()
	}
	f, err := os.OpenFile(args[0], os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fail("touch: %v", err)
	}
	f.Close()
	if now := time.Now(); os.Chtimes(args[0], now, now) != nil {
		return fail("touch: cannot set the times of %s", args[0])
	}
	return 0
}

func cmdCat(args []string) int {
	if len(args) != 1 {
		return usageError()
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return fail("cat: %v", err)
	}
	os.Stdout.Write(b)
	return 0
}

func cmdWrite(args []string) int {
	if len(args) != 2 {
		return usageError()
	}
	if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
		return fail("write: %v", err)
	}
	return 0
}

func cmdEnv(args []string) int {
	if len(args) != 0 {
		return usageError()
	}
	for _, kv := range os.Environ() {
		fmt.Println(kv)
	}
	return 0
}

func cmdEcho(args []string) int {
	fmt.Println(strings.Join(args, " "))
	return 0
}

func cmdWaitfile(args []string) int {
	if len(args) != 2 {
		return usageError()
	}
	timeout, err := seconds(args[1])
	if err != nil {
		return fail("waitfile: %v", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		_, err := os.Stat(args[0])
		if err == nil {
			return 0
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fail("waitfile: %v", err)
		}
		if time.Now().After(deadline) {
			return fail("waitfile: %s did not appear within %s", args[0], timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
