package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/berth-dev/berth/internal/agentproto"
)

// outbox holds the latest unacknowledged state report of each task. A
// report supersedes the previous one of its task (reports are snapshots and
// the server merges them forward-only), so after a reconnect the agent
// resends one report per task that was not acknowledged.
type outbox struct {
	mu      sync.Mutex
	seq     int64
	pending map[string]outEntry
	kick    chan struct{}
}

type outEntry struct {
	seq   int64
	state agentproto.TaskState
}

func newOutbox() *outbox {
	return &outbox{pending: map[string]outEntry{}, kick: make(chan struct{}, 1)}
}

func (o *outbox) put(st agentproto.TaskState) {
	o.mu.Lock()
	o.seq++
	o.pending[st.TaskARN] = outEntry{seq: o.seq, state: st}
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *outbox) ack(seq int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for arn, e := range o.pending {
		if e.seq == seq {
			delete(o.pending, arn)
		}
	}
}

// after returns the reports with seq greater than sent, in seq order.
func (o *outbox) after(sent int64) []outEntry {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []outEntry
	for _, e := range o.pending {
		if e.seq > sent {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b outEntry) int { return int(a.seq - b.seq) })
	return out
}

// sessionClient holds the control session with the server, reconnecting
// with backoff and jitter.
type sessionClient struct {
	a   *Agent
	out *outbox
}

func (s *sessionClient) run(ctx context.Context) {
	b := newBackoff(250*time.Millisecond, 30*time.Second)
	for ctx.Err() == nil {
		began := time.Now()
		err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			b.reset()
		}
		s.a.log.Warn("control session ended; reconnecting", "err", err)
		b.wait(ctx)
	}
}

func (s *sessionClient) heartbeat() time.Duration {
	if s.a.cfg.Heartbeat > 0 {
		return s.a.cfg.Heartbeat
	}
	return agentproto.HeartbeatInterval
}

func (s *sessionClient) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u, hdr, err := s.a.signedSessionRequest(ctx)
	if err != nil {
		return err
	}
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		if resp != nil {
			return fmt.Errorf("open session: server answered %s", resp.Status)
		}
		return fmt.Errorf("open session: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 20)
	s.a.log.Info("control session open", "server", s.a.cfg.ServerURL)

	in := make(chan agentproto.Message, 16)
	readErr := make(chan error, 1)
	go func() {
		for {
			var m agentproto.Message
			if err := wsjson.Read(ctx, conn, &m); err != nil {
				readErr <- err
				return
			}
			select {
			case in <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	send := func(m agentproto.Message) error {
		wctx, c := context.WithTimeout(ctx, 10*time.Second)
		defer c()
		return wsjson.Write(wctx, conn, m)
	}
	var sent int64
	flush := func() error {
		for _, e := range s.out.after(sent) {
			st := e.state
			if err := send(agentproto.Message{Type: agentproto.TypeState, Seq: e.seq, State: &st}); err != nil {
				return err
			}
			sent = e.seq
		}
		return nil
	}
	if err := flush(); err != nil {
		return err
	}
	hb := time.NewTicker(s.heartbeat())
	defer hb.Stop()
	lastHeard := time.Now()
	patience := time.Duration(agentproto.MissedHeartbeats) * max(s.heartbeat(), agentproto.HeartbeatInterval)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return err
		case <-s.out.kick:
			if err := flush(); err != nil {
				return err
			}
		case <-hb.C:
			if time.Since(lastHeard) > patience {
				return fmt.Errorf("no message from the server for %s", time.Since(lastHeard).Round(time.Second))
			}
			if err := send(agentproto.Message{Type: agentproto.TypeHeartbeat}); err != nil {
				return err
			}
		case m := <-in:
			lastHeard = time.Now()
			switch m.Type {
			case agentproto.TypeSync:
				if m.HeartbeatMillis > 0 {
					// The server's heartbeats set how long silence may last.
					patience = time.Duration(agentproto.MissedHeartbeats) * max(s.heartbeat(), time.Duration(m.HeartbeatMillis)*time.Millisecond)
				}
				s.a.engine.sync(m.Tasks)
				if err := send(agentproto.Message{Type: agentproto.TypeAck, Seq: m.Seq}); err != nil {
					return err
				}
			case agentproto.TypeTasks:
				for _, t := range m.Tasks {
					s.a.engine.apply(t)
				}
				if err := send(agentproto.Message{Type: agentproto.TypeAck, Seq: m.Seq}); err != nil {
					return err
				}
			case agentproto.TypeHeartbeat:
				// Answer the server's heartbeat, so the server hears this
				// agent at its own interval whatever the agent's is.
				if err := send(agentproto.Message{Type: agentproto.TypeHeartbeat}); err != nil {
					return err
				}
			case agentproto.TypeAck:
				s.out.ack(m.Seq)
			case agentproto.TypeError:
				return fmt.Errorf("server closed the session: %s", m.Error)
			}
		}
	}
}

// emptyPayloadHash is the SHA-256 of an empty body.
var emptyPayloadHash = func() string { h := sha256.Sum256(nil); return hex.EncodeToString(h[:]) }()

// signedSessionRequest builds the session URL and SigV4 headers (service
// "ecs") for the upgrade request.
func (a *Agent) signedSessionRequest(ctx context.Context) (string, http.Header, error) {
	base, err := url.Parse(a.cfg.ServerURL)
	if err != nil {
		return "", nil, fmt.Errorf("server URL %q: %w", a.cfg.ServerURL, err)
	}
	base.Path = strings.TrimSuffix(base.Path, "/") + agentproto.SessionPath
	q := url.Values{}
	q.Set(agentproto.QueryCluster, a.cfg.Cluster)
	q.Set(agentproto.QueryInstance, a.instanceARN)
	base.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String(), nil)
	if err != nil {
		return "", nil, err
	}
	creds := aws.Credentials{AccessKeyID: a.cfg.AccessKey, SecretAccessKey: a.cfg.SecretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptyPayloadHash, "ecs", a.cfg.Region, time.Now()); err != nil {
		return "", nil, fmt.Errorf("sign session request: %w", err)
	}
	hdr := http.Header{}
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := req.Header.Get(k); v != "" {
			hdr.Set(k, v)
		}
	}
	return base.String(), hdr, nil
}
