package fleet_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNothingImportsFunctions keeps the layout honest: functions/* are thin
// Lambda mains, and the product's core (this package, engine/, the CLI) is
// reached from everywhere else without going through a Lambda's folder.
func TestNothingImportsFunctions(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "integration", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}`, "github.com/elbguard/elbguard/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const functions = "github.com/elbguard/elbguard/functions/"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], functions) {
			continue
		}
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, functions) {
				t.Errorf("%s imports %s: functions/* are Lambda mains; import github.com/elbguard/elbguard/fleet instead", fields[0], imp)
			}
		}
	}
}
