package policies

import (
	"fmt"
	"strings"
	"testing"
)

// TestPolicyBounds: documents and check lists beyond the limits are refused
// with the place and the limit named, before anything is built from them.
func TestPolicyBounds(t *testing.T) {
	check := func(i int) string {
		return fmt.Sprintf("  - name: c%d\n    metric: m%d\n    strategy: {bounds: {lower: 1, upper: 10}}\n", i, i)
	}
	policy := func(checks int, pad int) string {
		var sb strings.Builder
		sb.WriteString("target: {app: demo, entity: collector}\nmin: 1\nmax: 4\nchecks:\n")
		for i := range checks {
			sb.WriteString(check(i))
		}
		for range pad {
			sb.WriteString("# padding\n")
		}
		return sb.String()
	}
	tests := []struct {
		name, doc, wantErr string
	}{
		{name: "at the check limit", doc: policy(MaxChecks, 0)},
		{name: "too many checks", doc: policy(MaxChecks+1, 0), wantErr: fmt.Sprintf("p.yaml:%d:5: checks: %d checks, above the limit of %d", 5+3*MaxChecks, MaxChecks+1, MaxChecks)},
		{name: "too many lines", doc: policy(1, MaxDocumentLines), wantErr: fmt.Sprintf("p.yaml:%d:1: policy has more than %d lines", MaxDocumentLines+1, MaxDocumentLines)},
		{name: "too many bytes", doc: policy(1, 0) + "# " + strings.Repeat("x", MaxDocumentBytes) + "\n", wantErr: "above the limit of 262144"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBytes("p.yaml", []byte(tc.doc), true)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseBytes: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ParseBytes error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
