// Package testimage builds the container image every berth test and
// benchmark runs. No registry is reachable from the test machines, so the
// image is built locally: FROM scratch plus the static multi-call binary in
// ./testapp (installed as /bin/testapp and /bin/sleep, with PATH=/bin and an
// empty world-writable /tmp). See testapp's doc comment for its commands.
//
// Build is cheap when repeated: the image carries a hash of the testapp
// sources and the Dockerfile as a label and is rebuilt only when that hash
// changes. Concurrent callers, in one process or several (go test runs
// packages in parallel), serialise on a file lock in os.TempDir().
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
)

// Image is the tag of the test image.
const Image = "berth-testapp:latest"

// HashLabel is the image label holding the hash of what the image was built
// from.
const HashLabel = "berth.testapp.hash"

// dockerfile is the image's Dockerfile; %s is the source hash.
const dockerfile = `FROM scratch
COPY rootfs /
ENV PATH=/bin
LABEL ` + HashLabel + `=%s
CMD ["testapp","sleep","3600"]
`

const testappPkg = "github.com/berth-dev/berth/internal/testimage/testapp"

// Build makes sure the test image is present and up to date with the
// testapp sources, building it if needed, and returns its tag (Image). It
// needs the go command on PATH and a Docker engine (DOCKER_HOST or the
// default socket).
func Build(ctx context.Context) (string, error) {
	src, err := sourceDir(ctx)
	if err != nil {
		return "", err
	}
	hash, err := sourceHash(src)
	if err != nil {
		return "", err
	}
	unlock, err := lock(ctx, filepath.Join(os.TempDir(), "berth-testapp.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return "", fmt.Errorf("testimage: docker client: %w", err)
	}
	defer cli.Close()

	oldID, oldHash, err := inspect(ctx, cli)
	if err != nil {
		return "", err
	}
	if oldHash == hash {
		return Image, nil
	}
	if err := buildImage(ctx, cli, src, hash); err != nil {
		return "", err
	}
	if _, newHash, err := inspect(ctx, cli); err != nil {
		return "", err
	} else if newHash != hash {
		return "", fmt.Errorf("testimage: built %s but it carries hash %q, want %q", Image, newHash, hash)
	}
	if oldID != "" {
		// The previous build is now untagged; drop it unless a container
		// still uses it.
		_, _ = cli.ImageRemove(ctx, oldID, client.ImageRemoveOptions{PruneChildren: true})
	}
	return Image, nil
}

// sourceDir finds the testapp sources next to this file, or through go list
// when the binary was built with -trimpath.
func sourceDir(ctx context.Context) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "testapp")
		if _, err := os.Stat(filepath.Join(dir, "main.go")); err == nil {
			return dir, nil
		}
	}
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", testappPkg).Output()
	if err != nil {
		return "", fmt.Errorf("testimage: find the testapp sources: go list: %w", exitErr(err))
	}
	return strings.TrimSpace(string(out)), nil
}

// sourceHash hashes the Dockerfile template and every file of dir.
func sourceHash(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("testimage: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", dockerfile, runtime.GOARCH)
	for _, e := range entries { // ReadDir sorts by name
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", fmt.Errorf("testimage: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", e.Name(), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// lock takes an exclusive flock on path, polling so that ctx can end the
// wait, and returns the function releasing it.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("testimage: lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("testimage: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("testimage: waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// inspect returns the id and hash label of the local image Image, or empty
// strings when there is none.
func inspect(ctx context.Context, cli *client.Client) (id, hash string, err error) {
	img, err := cli.ImageInspect(ctx, Image)
	if cerrdefs.IsNotFound(err) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("testimage: inspect %s: %w", Image, err)
	}
	if img.Config != nil {
		hash = img.Config.Labels[HashLabel]
	}
	return img.ID, hash, nil
}

// buildImage compiles testapp and builds the image from it.
func buildImage(ctx context.Context, cli *client.Client, src, hash string) error {
	tmp, err := os.MkdirTemp("", "berth-testapp-")
	if err != nil {
		return fmt.Errorf("testimage: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "testapp")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testimage: go build testapp: %w\n%s", err, out)
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("testimage: %w", err)
	}
	buildContext, err := contextTar(fmt.Sprintf(dockerfile, hash), binary)
	if err != nil {
		return err
	}

	res, err := cli.ImageBuild(ctx, bytes.NewReader(buildContext), client.ImageBuildOptions{
		Tags:           []string{Image},
		SuppressOutput: true,
		Remove:         true,
		ForceRemove:    true,
		Version:        build.BuilderV1, // works offline with every engine
	})
	if err != nil {
		return fmt.Errorf("testimage: build %s: %w", Image, err)
	}
	defer res.Body.Close()
	if err := readBuildStream(res.Body); err != nil {
		return fmt.Errorf("testimage: build %s: %w", Image, err)
	}
	return nil
}

// contextTar is the build context: the Dockerfile and rootfs/, the image's
// files (one COPY, one layer).
func contextTar(dockerfile string, binary []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	files := []struct {
		name string
		mode int64
		body []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"rootfs/", 0o755, nil},
		{"rootfs/bin/", 0o755, nil},
		{"rootfs/bin/testapp", 0o755, binary},
		{"rootfs/bin/sleep", 0o755, binary},
		{"rootfs/tmp/", 0o1777, nil},
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: now}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("testimage: build context: %w", err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, fmt.Errorf("testimage: build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("testimage: build context: %w", err)
	}
	return buf.Bytes(), nil
}

// readBuildStream reads the engine's JSON build output to the end and
// returns the error it reports, if any.
func readBuildStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	var log []string
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if msg.Stream != "" {
			log = append(log, msg.Stream)
		}
		if msg.ErrorDetail != nil && msg.ErrorDetail.Message != "" {
			msg.Error = msg.ErrorDetail.Message
		}
		if msg.Error != "" {
			return fmt.Errorf("%s\n%s", msg.Error, strings.Join(log, ""))
		}
	}
}

// exitErr adds a failed command's stderr to its error.
func exitErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}
