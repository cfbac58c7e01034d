package engine

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{name: "identical", a: "a\nb\n", b: "a\nb\n", want: ""},
		{name: "changed line", a: "min: 1\nmax: 4\nchecks: []\n", b: "min: 1\nmax: 3\nchecks: []\n", want: "-max: 4\n+max: 3\n"},
		{name: "added at end", a: "a\n", b: "a\nb\n", want: "+b\n"},
		{name: "removed at start", a: "a\nb\n", b: "b\n", want: "-a\n"},
		{name: "minimal in the middle", a: "h\nx\ny\nz\nt\n", b: "h\ny\nq\nt\n", want: "-x\n-z\n+q\n"},
		{name: "from empty", a: "", b: "a\n", want: "+a\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := diff(tc.a, tc.b); got != tc.want {
				t.Fatalf("diff(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

// policyText is a policy document of about size bytes whose lines all differ
// with the seed.
func policyText(size int, seed string) string {
	var sb strings.Builder
	for i := 0; sb.Len() < size; i++ {
		fmt.Fprintf(&sb, "  # %s note %06d: a comment line of a large policy\n", seed, i)
	}
	return sb.String()
}

// TestDiffMemoryIsBounded: a 1 MiB document replaced whole allocates a few
// times its size, not a table of its lines squared (tens of GB).
func TestDiffMemoryIsBounded(t *testing.T) {
	a, b := policyText(1<<20, "old"), policyText(1<<20, "new")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := diff(a, b)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	if want := strings.Count(a, "\n") + strings.Count(b, "\n"); strings.Count(d, "\n") != want {
		t.Fatalf("diff has %d lines, want every line removed and added (%d)", strings.Count(d, "\n"), want)
	}
	if alloc > 16<<20 {
		t.Fatalf("diff of two 1 MiB documents allocated %d MiB, want at most 16", alloc>>20)
	}
	t.Logf("diff of two 1 MiB documents: %.1f MiB allocated", float64(alloc)/(1<<20))
}

func BenchmarkDiff(b *testing.B) {
	for _, size := range []int{20 << 10, 100 << 10, 1 << 20} {
		old, new := policyText(size, "old"), policyText(size, "new")
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				diff(old, new)
			}
		})
	}
}
