package local

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// logSizes returns the sizes of path, path.1 … path.keep (-1: missing).
func logSizes(t *testing.T, path string, keep int) []int64 {
	t.Helper()
	out := make([]int64, keep+1)
	for i := range out {
		name := path
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		st, err := os.Stat(name)
		if err != nil {
			out[i] = -1
			continue
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, st.Mode().Perm())
		}
		out[i] = st.Size()
	}
	return out
}

// TestLogFileConcurrentWriters: writers on many goroutines (like a child's
// stdout and stderr) never tear a line, every file stays within the cap,
// only keep rotated files exist, and what is kept is the newest lines
// without a gap.
func TestLogFileConcurrentWriters(t *testing.T) {
	const max, keep, writers, lines = 4096, 3, 8, 2000
	path := filepath.Join(t.TempDir(), "0.log")
	l, err := openLogFile(path, max, keep)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var written atomic.Int64
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				line := fmt.Sprintf("w%d %d %s\n", w, i, strings.Repeat("x", i%50))
				if n, err := l.Write([]byte(line)); err != nil || n != len(line) {
					t.Errorf("write: %d, %v", n, err)
					return
				}
				written.Add(int64(len(line)))
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var total int64
	for i, s := range logSizes(t, path, keep) {
		if s < 0 {
			t.Fatalf("file %d of the log missing after %d bytes written", i, written.Load())
		}
		if s > max {
			t.Errorf("file %d: %d bytes, cap %d", i, s, max)
		}
		total += s
	}
	if _, err := os.Stat(path + "." + strconv.Itoa(keep+1)); err == nil {
		t.Errorf("%s.%d kept: want only %d rotated files", path, keep+1, keep)
	}
	all := readLogTail(path, 1<<30, keep)
	if int64(len(all)) != total {
		t.Errorf("readLogTail read %d bytes of %d", len(all), total)
	}
	// The tail starts wherever the oldest kept file starts: at a line.
	last := map[string]int{}
	for _, ln := range strings.Split(strings.TrimSuffix(string(all), "\n"), "\n") {
		var w string
		var i int
		var pad string
		if n, _ := fmt.Sscanf(ln, "%s %d %s", &w, &i, &pad); n < 2 || len(pad) != i%50 {
			t.Fatalf("torn line %q", ln)
		}
		if prev, ok := last[w]; ok && i != prev+1 {
			t.Fatalf("%s: line %d after %d: a line lost inside the kept window", w, i, prev)
		}
		last[w] = i
	}
	// Which writers the window holds depends on the scheduling; each one
	// it holds ends with its newest line.
	if len(last) == 0 {
		t.Fatal("no line kept")
	}
	for w, got := range last {
		if got != lines-1 {
			t.Errorf("%s: newest kept line %d, want %d", w, got, lines-1)
		}
	}
	t.Logf("%d bytes written, %d kept on disk (cap %d x %d files)", written.Load(), total, max, keep+1)
}

// TestLogFileCutsLongLines: a line longer than the cap is cut into full
// files instead of growing one past it, and a line that does not fit
// starts a new file rather than being split.
func TestLogFileCutsLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	l, err := openLogFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	write := func(s string) {
		t.Helper()
		if n, err := l.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("write %d bytes: %d, %v", len(s), n, err)
		}
	}
	write(strings.Repeat("a", 60) + "\n")
	write(strings.Repeat("b", 60) + "\n") // does not fit: a new file
	if b, _ := os.ReadFile(path + ".1"); string(b) != strings.Repeat("a", 60)+"\n" {
		t.Errorf("0.log.1 = %q, want the first line whole", b)
	}
	write(strings.Repeat("c", 250)) // longer than a file
	sizes := logSizes(t, path, 2)
	if fmt.Sprint(sizes) != "[50 100 100]" {
		t.Errorf("sizes %v, want [50 100 100]", sizes)
	}
	// Two lines in one write: the first one that fits stays with the
	// current file, the other starts the next.
	write("d\n" + strings.Repeat("e", 70) + "\n")
	if b, _ := os.ReadFile(path + ".1"); !bytes.HasSuffix(b, []byte("cd\n")) || len(b) != 52 {
		t.Errorf("0.log.1 = %q, want the cut line's end and the short line", b)
	}
	if b, _ := os.ReadFile(path); string(b) != strings.Repeat("e", 70)+"\n" {
		t.Errorf("0.log = %q, want the second line", b)
	}
}

// TestLogFileExisting: an existing log is appended to and made 0600, and a
// file already past the cap (left by an older server) is rotated by the
// first write.
func TestLogFileExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, bytes.Repeat([]byte("old\n"), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := openLogFile(path, 64, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte("new\n")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("0.log = %q, want only the new line", b)
	}
	if st, err := os.Stat(path + ".1"); err != nil || st.Size() != 400 || st.Mode().Perm() != 0o600 {
		t.Errorf("0.log.1: %v %v, want the old 400 bytes, 0600", st, err)
	}
	if tail := readLogTail(path, 8, 3); string(tail) != "old\nnew\n" {
		t.Errorf("tail across the rotation = %q", tail)
	}
}
