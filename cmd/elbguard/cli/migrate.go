package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/route53"
	"golang.org/x/term"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/internal/awscount"
	"github.com/elbguard/elbguard/migrate"
)

type migrateOptions struct {
	name    string
	cfg     migrate.Config
	dryRun  bool
	yes     bool
	undo    bool
	shift   int
	output  string
	aws     awsclient.Settings
	stats   bool
	debug   bool
	waitArg string
}

// migrateFlags is migrate's flag set: the one definition parseMigrate
// reads and help prints.
func migrateFlags() (*migrateOptions, *flag.FlagSet) {
	o := &migrateOptions{shift: -1}
	fs := flag.NewFlagSet("elbguard migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by runMigrate, help by printCommandHelp
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the plan, change nothing")
	fs.BoolVar(&o.yes, "yes", false, "apply without asking")
	fs.BoolVar(&o.undo, "undo", false, "shift the records back and delete what the migration created")
	fs.IntVar(&o.shift, "shift", -1, "move `PERCENT` (0-100) of the records' traffic to the NLB")
	fs.StringVar(&o.output, "output", "table", "output format: table or json")
	fs.StringVar(&o.cfg.NLBName, "nlb-name", "", "name of the NLB (default NAME-nlb)")
	fs.StringVar(&o.cfg.SSLPolicy, "ssl-policy", "", "NLB security policy for SSL listeners whose Classic policy has no equivalent")
	fs.StringVar(&o.waitArg, "wait", migrate.DefaultWait.String(), "how long to wait for every target to be healthy")
	fs.StringVar(&o.output, "o", "table", "short for --output")
	fs.StringVar(&o.aws.Region, "region", "", "AWS region (default: AWS_REGION or the profile's)")
	fs.StringVar(&o.aws.Profile, "profile", "", "named profile from the AWS shared files (default: AWS_PROFILE)")
	fs.StringVar(&o.aws.EndpointURL, "endpoint-url", "", "send every AWS call to this URL (default: AWS_ENDPOINT_URL)")
	fs.BoolVar(&o.stats, "stats", false, "print API calls by action to stderr")
	fs.BoolVar(&o.debug, "debug", false, "log every step to stderr and print errors' full chain")
	return o, fs
}

func parseMigrate(args []string) (migrateOptions, error) {
	op, fs := migrateFlags()
	o := op // the flags write through this pointer
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return *o, err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(rest) != 1:
		return *o, fmt.Errorf("want exactly one Classic load balancer NAME; got %q", rest)
	case o.output != "table" && o.output != "json":
		return *o, fmt.Errorf("--output %q: want table or json", o.output)
	case o.undo && o.shift >= 0:
		return *o, errors.New("--undo and --shift exclude each other")
	case o.shift > 100 || o.shift < -1:
		return *o, fmt.Errorf("--shift %d: want 0 to 100", o.shift)
	}
	o.name = rest[0]
	d, err := time.ParseDuration(o.waitArg)
	if err != nil || d <= 0 {
		return *o, fmt.Errorf("--wait %q: want a positive duration such as 5m or 90s", o.waitArg)
	}
	o.cfg.Wait = d
	return *o, nil
}

// runMigrate is `elbguard migrate`: plan, print, confirm, apply, report.
func runMigrate(ctx context.Context, args []string, env Env) int {
	o, err := parseMigrate(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c, _ := commandNamed("migrate")
			_, fs := migrateFlags()
			printCommandHelp(env.Stdout, c, fs)
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "elbguard migrate: %v\nRun 'elbguard migrate --help' for its flags.\n", flagError(err))
		return ExitUsage
	}
	log, err := cliLogger(env, o.debug)
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
		return ExitUsage
	}
	var opts []awsclient.Option
	if o.stats {
		counter := awscount.New()
		opts = append(opts, counter.Instrument)
		defer func() { fmt.Fprintf(env.Stderr, "API calls by action:\n%s", indent(counter.String())) }()
	}
	clients, err := awsclient.LoadWith(ctx, o.aws, opts...)
	if err != nil {
		fail(env, options{debug: o.debug}, err)
		return ExitUsage
	}
	m, err := migrate.New(migrate.Clients{
		Classic: clients.Classic, V2: clients.V2, EC2: clients.EC2, IAM: clients.IAM, ACM: clients.ACM,
		Route53: route53.NewFromConfig(clients.Config),
	}, o.cfg, log)
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard migrate: %v\n", err)
		return ExitUsage
	}
	var res *migrate.Result
	switch {
	case o.undo:
		res, err = m.PlanUndo(ctx, o.name)
	case o.shift >= 0:
		res, err = m.PlanShift(ctx, o.name, o.shift)
	default:
		res, err = m.Plan(ctx, o.name)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard migrate: %s\n", explain(err))
		if o.debug {
			fmt.Fprintf(env.Stderr, "elbguard: debug: %v\n", err)
		}
		return ExitFound
	}
	if res.Status == migrate.StatusPlanned && !o.dryRun {
		if code, ok := confirm(env, o, res); !ok {
			return code
		}
		m.Apply(ctx, res)
	}
	if err := writeMigrate(env.Stdout, o.output, res); err != nil {
		fmt.Fprintf(env.Stderr, "elbguard migrate: %v\n", err)
		return ExitUsage
	}
	return migrateExit(res.Status)
}

// confirm shows the plan and asks for it on a terminal; --yes skips.
// ok false: not applied, with the exit status to return.
func confirm(env Env, o migrateOptions, res *migrate.Result) (code int, ok bool) {
	if o.yes {
		return 0, true
	}
	plan := env.Stdout
	if o.output == "json" {
		plan = env.Stderr // stdout carries only the JSON
	}
	if err := res.WriteText(plan); err != nil {
		fmt.Fprintf(env.Stderr, "elbguard migrate: %v\n", err)
		return ExitUsage, false
	}
	if !isTerminal(env.Stdin) {
		fmt.Fprintf(env.Stderr, "elbguard migrate: nothing changed: no terminal to confirm the plan on; pass --yes to apply it as shown\n")
		return ExitUsage, false
	}
	fmt.Fprintf(env.Stderr, "\nApply these %d calls? Only 'yes' applies them: ", len(res.Calls))
	line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		res.Status = migrate.StatusDeclined
		fmt.Fprintln(env.Stderr, "elbguard migrate: declined; nothing changed")
		return ExitFound, false
	}
	return 0, true
}

// isTerminal reports whether r is a terminal (not /dev/null, a pipe or a
// file, where nobody can answer).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func writeMigrate(w io.Writer, format string, res *migrate.Result) error {
	if format == "json" {
		return write(w, options{output: "json"}, res, nil)
	}
	return res.WriteText(w)
}

func migrateExit(s engine.Status) int {
	switch s {
	case migrate.StatusPlanned, migrate.StatusMigrated, migrate.StatusShifted, migrate.StatusUndone:
		return ExitOK
	}
	return ExitFound
}
