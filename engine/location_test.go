package engine

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestWithLocationStampsReports(t *testing.T) {
	f := newFake()
	f.addClassic("web", map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
	f.addClassic("gone-soon", map[string]string{tag: "off"}, listener("TCP", 80, "TCP", 80))
	e, err := New(f, fakeV2{f}, Config{}, nil, WithLocation("111111111111", "eu-west-1"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Reconcile(context.Background(), Targets{Classic: []string{"web", "gone-soon", "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Reports) != 3 {
		t.Fatalf("got %d reports; want 3", len(res.Reports))
	}
	for _, r := range res.Reports {
		if r.Account != "111111111111" || r.Region != "eu-west-1" {
			t.Errorf("%s: got account %q region %q; want 111111111111 eu-west-1", r.Name, r.Account, r.Region)
		}
	}
	// Without the option, reports stay unlocated (a single-account run).
	if r := sweep(t, newEngine(t, f, Config{})).Reports[0]; r.Account != "" || r.Region != "" {
		t.Errorf("got %q %q; want none", r.Account, r.Region)
	}
}

func TestIncompleteRunNamesTheRest(t *testing.T) {
	f := newFake()
	for _, n := range []string{"a", "b", "c"} {
		f.addClassic(n, map[string]string{tag: "enforce"}, listener("HTTP", 80, "HTTP", 80))
	}
	e := newEngine(t, f, Config{StopBefore: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // already past the stop
	defer cancel()
	res, err := e.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Incomplete || res.Processed != 0 || res.Remaining == nil {
		t.Fatalf("got %+v; want incomplete with nothing processed", res)
	}
	got := slices.Sorted(slices.Values(res.Remaining.Classic))
	if !slices.Equal(got, []string{"a", "b", "c"}) || f.writes() != 0 {
		t.Errorf("got remaining %v and %d writes; want a, b, c and none", got, f.writes())
	}
	if complete := sweep(t, newEngine(t, f, Config{})); complete.Remaining != nil {
		t.Errorf("complete run: got remaining %+v; want nil", complete.Remaining)
	}
}
