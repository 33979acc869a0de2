package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// ELB's defaults for zero health check settings.
const (
	defaultInterval           = 30 * time.Second
	defaultTimeout            = 5 * time.Second
	defaultHealthyThreshold   = 5
	defaultUnhealthyThreshold = 2
)

func normalizeHC(hc HealthCheck, tgProtocol string) HealthCheck {
	if hc.Protocol == "" {
		hc.Protocol = tgProtocol
	}
	hc.Protocol = strings.ToUpper(hc.Protocol)
	if hc.Protocol == "" {
		hc.Protocol = "HTTP"
	}
	if hc.Path == "" {
		hc.Path = "/"
	}
	if hc.Interval <= 0 {
		hc.Interval = defaultInterval
	}
	if hc.Timeout <= 0 {
		hc.Timeout = defaultTimeout
	}
	if hc.HealthyThreshold <= 0 {
		hc.HealthyThreshold = defaultHealthyThreshold
	}
	if hc.UnhealthyThreshold <= 0 {
		hc.UnhealthyThreshold = defaultUnhealthyThreshold
	}
	if strings.TrimSpace(hc.Matcher) == "" {
		hc.Matcher = "200"
	}
	return hc
}

// codeRange is an inclusive range of status codes.
type codeRange struct{ lo, hi int }

// matcher is a parsed success-code matcher: "200", "200-299", "200,302".
type matcher []codeRange

func parseMatcher(s string) (matcher, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return matcher{{200, 200}}, nil
	}
	var m matcher
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseCode(lo)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = parseCode(hi); err != nil {
				return nil, fmt.Errorf("matcher %q: %w", s, err)
			}
			if b < a {
				return nil, fmt.Errorf("matcher %q: range %d-%d is empty", s, a, b)
			}
		}
		m = append(m, codeRange{a, b})
	}
	return m, nil
}

func parseCode(s string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, fmt.Errorf("invalid status code %q", s)
	}
	return n, nil
}

func (m matcher) match(code int) bool {
	for _, r := range m {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

// healthLoop checks the target until ctx ends: the first check at once,
// then every Interval; settings are re-read before every check so Apply
// changes them live.
func (t *target) healthLoop(ctx context.Context) {
	p := t.g.p
	defer p.wg.Done()
	var succ, fail int
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		tg := t.g.cfg.Load()
		hc := normalizeHC(tg.HealthCheck, tg.Protocol)
		if !hc.Enabled {
			succ, fail = 0, 0
			if t.setState(StateUnavailable, ReasonHealthCheckDisabled, "Health checks are disabled") {
				t.g.rebuild()
			}
			timer.Reset(time.Second)
			continue
		}
		timer.Reset(hc.Interval)
		ok, reason, desc := p.check(ctx, t.t, hc)
		if ctx.Err() != nil {
			return
		}
		var changed bool
		if ok {
			succ, fail = succ+1, 0
			if succ >= hc.HealthyThreshold {
				changed = t.setState(StateHealthy, "", "")
			}
		} else {
			succ, fail = 0, fail+1
			if fail >= hc.UnhealthyThreshold {
				changed = t.setState(StateUnhealthy, reason, desc)
			}
		}
		if changed {
			t.g.rebuild()
		}
	}
}

// check runs one health check. On failure it returns ELB's reason and
// description.
func (p *Plane) check(ctx context.Context, t Target, hc HealthCheck) (ok bool, reason, desc string) {
	host, tport, err := net.SplitHostPort(t.Addr)
	if err != nil {
		return false, ReasonFailedHealthChecks, "Health checks failed"
	}
	port := tport
	if hc.Port != "" && !strings.EqualFold(hc.Port, "traffic-port") {
		port = hc.Port
	}
	addr := net.JoinHostPort(host, port)
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()

	if hc.Protocol == "TCP" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return failReason(err)
		}
		c.Close()
		return true, "", ""
	}

	m, err := parseMatcher(hc.Matcher)
	if err != nil {
		p.log.Warn("lb: bad health check matcher, using 200", "err", err)
		m = matcher{{200, 200}}
	}
	scheme := "http"
	if hc.Protocol == "HTTPS" {
		scheme = "https"
	}
	// The path is sent exactly as configured.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+hc.Path, nil)
	if err != nil {
		return false, ReasonFailedHealthChecks, "Health checks failed"
	}
	req.Header.Set("User-Agent", "ELB-HealthChecker/2.0")
	req.Close = true
	resp, err := p.hcClient.Do(req)
	if err != nil {
		return failReason(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if !m.match(resp.StatusCode) {
		return false, ReasonResponseCodeMismatch, fmt.Sprintf("Health checks failed with these codes: [%d]", resp.StatusCode)
	}
	return true, "", ""
}

func failReason(err error) (bool, string, string) {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return false, ReasonTimeout, "Request timed out"
	}
	return false, ReasonFailedHealthChecks, "Health checks failed"
}
