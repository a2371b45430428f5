package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/migrate"
)

func TestParseMigrate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(o migrateOptions) bool
	}{
		{"name then flags", []string{"web", "--dry-run", "--wait", "90s"}, "", func(o migrateOptions) bool {
			return o.name == "web" && o.dryRun && o.cfg.Wait == 90*time.Second && o.shift == -1
		}},
		{"default wait", []string{"web"}, "", func(o migrateOptions) bool { return o.cfg.Wait == migrate.DefaultWait }},
		{"shift", []string{"--shift", "25", "web", "--yes"}, "", func(o migrateOptions) bool { return o.shift == 25 && o.yes }},
		{"no name", []string{"--dry-run"}, "exactly one", nil},
		{"two names", []string{"a", "b"}, "exactly one", nil},
		{"undo and shift", []string{"--undo", "--shift", "5", "web"}, "exclude", nil},
		{"shift over 100", []string{"--shift", "101", "web"}, "0 to 100", nil},
		{"bad wait", []string{"--wait", "soon", "web"}, "--wait", nil},
		{"zero wait", []string{"--wait", "0s", "web"}, "--wait", nil},
		{"html output", []string{"--output", "html", "web"}, "table or json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseMigrate(tt.args)
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v; want an error containing %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v; want none", err)
			case tt.check != nil && !tt.check(o):
				t.Errorf("got %+v", o)
			}
		})
	}
}

// TestMigrateExit: only a plan, a migration, a shift and an undo are a
// success; held, not found, error and declined are not.
func TestMigrateExit(t *testing.T) {
	for s, want := range map[engine.Status]int{
		migrate.StatusPlanned: ExitOK, migrate.StatusMigrated: ExitOK, migrate.StatusShifted: ExitOK, migrate.StatusUndone: ExitOK,
		engine.StatusHeld: ExitFound, engine.StatusNotFound: ExitFound, engine.StatusError: ExitFound, migrate.StatusDeclined: ExitFound,
	} {
		if got := migrateExit(s); got != want {
			t.Errorf("migrateExit(%s) = %d; want %d", s, got, want)
		}
	}
}

// TestConfirmNeedsATerminal: without --yes, a plan is never applied when
// nobody can answer (stdin /dev/null, a pipe): exit 2, the plan shown.
func TestConfirmNeedsATerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, in := range []any{null, strings.NewReader("yes\n")} {
		var out, errb bytes.Buffer
		env := Env{Stdin: in.(interface{ Read([]byte) (int, error) }), Stdout: &out, Stderr: &errb}
		res := &migrate.Result{Operation: migrate.OpMigrate, Classic: "web", Status: migrate.StatusPlanned}
		code, ok := confirm(env, migrateOptions{output: "table"}, res)
		if ok || code != ExitUsage || !strings.Contains(errb.String(), "--yes") || !strings.Contains(out.String(), "migrate web") {
			t.Errorf("stdin %T: got %d %t, stdout %q stderr %q; want 2, not applied, the plan and the hint", in, code, ok, out.String(), errb.String())
		}
	}
}
