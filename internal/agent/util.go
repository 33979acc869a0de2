package agent

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/ecsapi"
)

func newHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// backoff is exponential backoff with full jitter.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max, cur: min} }

func (b *backoff) reset() { b.cur = b.min }

// wait sleeps a random time in [cur/2, cur] and doubles cur up to max.
func (b *backoff) wait(ctx context.Context) {
	half := int64(b.cur / 2)
	j, _ := rand.Int(rand.Reader, big.NewInt(half+1))
	d := time.Duration(half + j.Int64())
	b.cur = min(b.cur*2, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// loadEnvironmentFiles reads ECS environmentFiles: berth takes a local path
// or an http(s) URL in "value" (S3 ARNs need S3, which berth has not).
// Files are VARIABLE=VALUE lines; # starts a comment. Later files win.
func loadEnvironmentFiles(ctx context.Context, files []ecsapi.EnvironmentFile) (map[string]string, error) {
	if len(files) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, f := range files {
		src := f.Value
		rc, err := openEnvFile(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("environment file %s: %w", src, err)
		}
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if k, v, ok := strings.Cut(line, "="); ok {
				out[k] = v
			}
		}
		err = sc.Err()
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("environment file %s: %w", src, err)
		}
	}
	return out, nil
}

func openEnvFile(ctx context.Context, src string) (io.ReadCloser, error) {
	switch {
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("GET answered %s", resp.Status)
		}
		return resp.Body, nil
	case strings.HasPrefix(src, "arn:"):
		return nil, fmt.Errorf("S3 object ARNs are not supported: give a local path or an http(s) URL")
	}
	return os.Open(src)
}
