package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"

	"github.com/berth-dev/berth/internal/runtime"
)

// The awsvpc pause container owns a task's network namespace and does
// nothing else. No registry is reachable from many berth hosts, so the
// agent makes its pause image itself: a one-file image holding a minimal
// static ELF program that blocks in a syscall forever. It is generated here
// for the host's architecture rather than shipped as a binary blob.

// PauseImage is the local image the agent creates for pause containers.
const PauseImage = "berth/pause:1"

// importer is implemented by runtimes that can create an image from a
// root file system tar (docker import).
type importer interface {
	ImportImage(ctx context.Context, ref string, rootfs io.Reader, changes []string) error
}

func ensurePauseImage(ctx context.Context, rt runtime.Runtime) (string, error) {
	if _, err := rt.InspectImage(ctx, PauseImage); err == nil {
		return PauseImage, nil
	} else if !errors.Is(err, runtime.ErrNotFound) {
		return "", err
	}
	imp, ok := rt.(importer)
	if !ok {
		return "", errors.New("the container runtime cannot import images: awsvpc tasks need the pause image " + PauseImage)
	}
	prog, err := pauseProgram(goruntime.GOARCH)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(prog)), Typeflag: tar.TypeReg}); err != nil {
		return "", err
	}
	if _, err := tw.Write(prog); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := imp.ImportImage(ctx, PauseImage, &buf, []string{`CMD ["/pause"]`}); err != nil {
		return "", fmt.Errorf("create the pause image %s: %w", PauseImage, err)
	}
	return PauseImage, nil
}

// pauseProgram returns a static ELF executable for arch that loops on a
// blocking syscall (pause on amd64, ppoll with no fds and no timeout on
// arm64), never exiting on its own.
func pauseProgram(arch string) ([]byte, error) {
	var machine uint16
	var code []byte
	switch arch {
	case "amd64":
		machine = 0x3e
		code = []byte{
			0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
			0x0f, 0x05, // syscall
			0xeb, 0xf7, // jmp back to mov
		}
	case "arm64":
		machine = 0xb7
		for _, ins := range []uint32{
			0xd2800000, // mov x0, #0
			0xd2800001, // mov x1, #0
			0xd2800002, // mov x2, #0
			0xd2800003, // mov x3, #0
			0xd2800928, // mov x8, #73 (ppoll)
			0xd4000001, // svc #0
			0x17fffffa, // b back to the first mov
		} {
			code = binary.LittleEndian.AppendUint32(code, ins)
		}
	default:
		return nil, fmt.Errorf("no pause program for architecture %s", arch)
	}
	const base = 0x400000
	const hdr = 64 + 56
	total := uint64(hdr + len(code))
	le := binary.LittleEndian
	b := make([]byte, 0, total)
	b = append(b, 0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b = le.AppendUint16(b, 2) // ET_EXEC
	b = le.AppendUint16(b, machine)
	b = le.AppendUint32(b, 1)        // EV_CURRENT
	b = le.AppendUint64(b, base+hdr) // entry
	b = le.AppendUint64(b, 64)       // program headers offset
	b = le.AppendUint64(b, 0)        // section headers offset
	b = le.AppendUint32(b, 0)        // flags
	b = le.AppendUint16(b, 64)       // header size
	b = le.AppendUint16(b, 56)       // program header size
	b = le.AppendUint16(b, 1)        // one program header
	b = le.AppendUint16(b, 0)        // section header size
	b = le.AppendUint16(b, 0)        // no sections
	b = le.AppendUint16(b, 0)        // no section names
	b = le.AppendUint32(b, 1)        // PT_LOAD
	b = le.AppendUint32(b, 5)        // R+X
	b = le.AppendUint64(b, 0)        // offset
	b = le.AppendUint64(b, base)     // vaddr
	b = le.AppendUint64(b, base)     // paddr
	b = le.AppendUint64(b, total)    // file size
	b = le.AppendUint64(b, total)    // memory size
	b = le.AppendUint64(b, 0x1000)   // alignment
	return append(b, code...), nil
}
