package scenario

import (
	"strings"
	"testing"
)

// TestParseRunJSON: the task's status comes from `juju run`'s output, whatever its exit
// code was.
func TestParseRunJSON(t *testing.T) {
	tests := []struct {
		name, out  string
		want       ActionResult
		wantErrSub string
	}{
		{name: "completed", out: `{"db/0":{"id":"2","status":"completed","unit":"db/0","results":{"return-code":0,"x":"y"}}}`,
			want: ActionResult{Unit: "db/0", Status: "completed"}},
		{name: "action-fail, exit 0", out: `{"db/0":{"id":"3","status":"failed","message":"no primary","unit":"db/0","results":{"return-code":0}}}`,
			want: ActionResult{Unit: "db/0", Status: "failed", Message: "no primary"}},
		{name: "two units", out: `{"db/0":{"status":"completed"},"db/1":{"status":"completed"}}`, wantErrSub: "has 2 units"},
		{name: "no status", out: `{"db/0":{"id":"3"}}`, wantErrSub: "no task status"},
		{name: "not json", out: "Action id 3 failed: x\n", wantErrSub: "parse run output"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRunJSON(tc.out)
			if tc.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("err %v, want %q", err, tc.wantErrSub)
				}
				return
			}
			if err != nil || got.Unit != tc.want.Unit || got.Status != tc.want.Status || got.Message != tc.want.Message {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
