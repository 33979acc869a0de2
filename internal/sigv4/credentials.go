package sigv4

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// LoadCredentialsFile reads access keys from a file in the AWS
// shared-credentials INI format: sections "[name]" holding
// aws_access_key_id and aws_secret_access_key. It returns key id -> secret.
func LoadCredentialsFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	defer f.Close()
	creds, err := ParseCredentials(f)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return creds, nil
}

// ParseCredentials parses the shared-credentials INI format. Every section
// must hold both a key id and a secret; other keys (aws_session_token,
// region, …) are ignored.
func ParseCredentials(r io.Reader) (map[string]string, error) {
	type entry struct {
		id, secret string
		line       int
	}
	var (
		sections []*entry
		names    = map[string]bool{}
		cur      *entry
		sc       = bufio.NewScanner(r)
		n        int
	)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			name, ok := strings.CutSuffix(line[1:], "]")
			name = strings.TrimSpace(name)
			if !ok || name == "" {
				return nil, fmt.Errorf("line %d: malformed section header %q", n, line)
			}
			if names[name] {
				return nil, fmt.Errorf("line %d: section [%s] appears twice", n, name)
			}
			names[name] = true
			cur = &entry{line: n}
			sections = append(sections, cur)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: expected key = value, got %q", n, line)
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: %q is outside any [section]", n, strings.TrimSpace(k))
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			cur.id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			cur.secret = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	creds := map[string]string{}
	for _, e := range sections {
		if e.id == "" || e.secret == "" {
			return nil, fmt.Errorf("section at line %d needs both aws_access_key_id and aws_secret_access_key", e.line)
		}
		if s, dup := creds[e.id]; dup && s != e.secret {
			return nil, fmt.Errorf("section at line %d: access key %s is listed twice with different secrets", e.line, e.id)
		}
		creds[e.id] = e.secret
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("no credentials found: add a section with aws_access_key_id and aws_secret_access_key")
	}
	return creds, nil
}
