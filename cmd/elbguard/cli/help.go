package cli

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/elbguard/elbguard/internal/buildinfo"
)

// command is one subcommand of elbguard: what its help says. Its flags are
// the ones parse defines for it, so help and parsing never disagree.
type command struct {
	name    string
	args    string // after "elbguard NAME [flags]"
	summary string // one line, in the command list
	detail  string // the paragraph of `elbguard help NAME`
}

var commands = []command{
	{"audit", "[NAME|ARN ...]", "evaluate in-scope load balancers, or those named, and print the plan; change nothing",
		"Evaluates every load balancer in scope (the --tag-key mode tag, --default-mode for untagged ones), or\n" +
			"those named, and prints, for each, the API calls a remediate would make, in order, with their\n" +
			"parameters, or why it would not (held: FINDING, deferred: FINDING). Nothing is changed."},
	{"remediate", "[NAME|ARN ...]", "bring in-scope load balancers, or those named, to TCP/SSL with proxy protocol",
		"Applies the plan audit prints, to those named (Classic names, Classic or ELBv2 ARNs, target group\n" +
			"ARNs) or, like terraform apply, to every in-scope load balancer after showing the plan and asking\n" +
			"(--yes: without asking; required without a terminal). --dry-run prints the plan and changes nothing.\n" +
			"At most --max-changes load balancers change per account and region, and a run stops changing after\n" +
			"--max-errors failures; the rest are deferred to the next run."},
	{"handle", "FILE|-", "handle one EventBridge event exactly as the enforcer Lambda does",
		"Reads one EventBridge event (CloudTrail API call, tag change or scheduled sweep) from FILE or\n" +
			"standard input and runs it through the enforcer Lambda's own code path."},
	{"migrate", "NAME", "move a Classic ELB to an NLB with proxy protocol v2: planned, proven, reversible",
		"Creates, beside the Classic load balancer NAME (never changed), an NLB NAME-nlb with proxy protocol v2:\n" +
			"the plan (the exact API calls) is printed first and applied on confirmation (--yes: without asking).\n" +
			"--shift moves PERCENT of the traffic of NAME's Route 53 alias records to the NLB by weight (100: all);\n" +
			"--undo shifts everything back and deletes what carries elbguard:migrated-from=NAME. See docs/migrate.md.\n\n" +
			"Exit status: 0 planned (--dry-run), migrated, shifted or undone; 1 held, not found, failed or declined;\n" +
			"2 usage, credential or endpoint error, or no terminal to confirm on without --yes."},
}

// commandNamed returns the subcommand called name.
func commandNamed(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// aliases are the short forms of long flags, shown beside them in help.
var aliases = map[string]string{"output": "o"}

const globalUsage = `Usage: elbguard COMMAND [flags] [ARGS]

elbguard keeps Classic ELBs and NLBs on TCP/SSL listeners with proxy protocol and
WebSocket-fit idle timeouts, on the same engine as its Lambdas.

Commands:
%s
Run 'elbguard help COMMAND' or 'elbguard COMMAND --help' for a command's flags.

Global flags:
  -h, --help       show help
      --version    print the version, commit and Go version

AWS access works as in the AWS CLI: --profile, --region and --endpoint-url on any command, or
AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL and the shared files (aws configure). Defaults of the
enforcement flags come from the ELBGUARD_* environment the Lambdas read.

Exit status: 0 compliant or handled, 1 something is left non_compliant, held, deferred, not found
or in error, 2 usage, configuration, credential or endpoint error.
`

// printGlobalUsage writes the command list.
func printGlobalUsage(w io.Writer) {
	var b strings.Builder
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, globalUsage, b.String())
}

// printCommandHelp writes one command's usage, description and flags with
// their defaults, from the flag set parse builds for it (in name order).
func printCommandHelp(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: elbguard %s [flags]", c.name)
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintf(w, "\n\n%s\n\nFlags:\n", c.detail)
	short := map[string]bool{}
	for _, s := range aliases {
		short[s] = true
	}
	type row struct{ left, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		if short[f.Name] {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		left := "    --" + f.Name
		if s, ok := aliases[f.Name]; ok {
			left = "-" + s + ", --" + f.Name
		}
		if name != "" {
			left += " " + name
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "-1" {
			if name == "string" || name == "format" {
				d = strconv.Quote(d)
			}
			usage += " (default " + d + ")"
		}
		rows = append(rows, row{"  " + left, usage})
		width = max(width, len(left)+2)
	})
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s  %s\n", width, r.left, r.usage)
	}
}

// printVersion writes the --version line.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "elbguard %s\n", buildinfo.Read())
}
