// Package cli implements the elbguard command: audit, remediate and handle,
// on the same engine and handler as the Lambdas.
package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/compliance/htmlreport"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/internal/awscount"
)

// Exit codes.
const (
	ExitOK = 0 // everything in scope complies, or was brought to comply
	// ExitFound: a load balancer named or in scope is left non_compliant,
	// error, held or deferred, or a named one does not exist (not_found);
	// also a remediation a person declined.
	ExitFound = 1
	ExitUsage = 2 // usage, configuration, credential or endpoint error
)

// leftOver are the statuses that make audit and remediate exit 1: nothing
// partial, held, deferred or impossible is called a success.
var leftOver = []engine.Status{engine.StatusNonCompliant, engine.StatusError, engine.StatusHeld,
	engine.StatusDeferred, engine.StatusNotFound}

func isLeftOver(s engine.Status) bool { return slices.Contains(leftOver, s) }

// Confirmation is the question remediate asks on a terminal before it
// changes every load balancer in scope (terraform apply's).
const Confirmation = "Do you want to perform these actions? Only 'yes' will be accepted"

// Env is what a run of the command sees of its process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Terminal: Stdin is a terminal, so remediate may ask for confirmation.
	Terminal bool
}

// options are the parsed flags of one command.
type options struct {
	cfg    engine.Config
	region string
	output string
	stats  bool
	yes    bool // remediate: apply the plan without asking
	sinks  fleet.Sinks
	args   []string
	org    orgFlags        // --accounts, --regions, --role-name
	orgCfg fleet.OrgConfig // checked from org and the environment
	aws    awsclient.Settings
	debug  bool // --debug: log lines and every error's full chain
	// where names the account and region of a single-location run in the
	// HTML report's header (its reports carry no location).
	where htmlreport.Options
	// targets are args filed by kind (audit and remediate).
	targets engine.Targets
	iacTags string // --iac-tags, parsed into cfg.IaCTags
}

// Run executes the command line args (without the program name) and returns
// the exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		printGlobalUsage(env.Stderr)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help":
		printGlobalUsage(env.Stdout)
		return ExitOK
	case "--version", "-version", "version":
		printVersion(env.Stdout)
		return ExitOK
	case "help":
		if len(args) == 1 {
			printGlobalUsage(env.Stdout)
			return ExitOK
		}
		c, ok := commandNamed(args[1])
		if !ok {
			fmt.Fprintf(env.Stderr, "elbguard: unknown command %q; run 'elbguard help' for the list\n", args[1])
			return ExitUsage
		}
		if c.name == "migrate" {
			_, fs := migrateFlags()
			printCommandHelp(env.Stdout, c, fs)
			return ExitOK
		}
		_, fs, _ := flags(c.name, env)
		printCommandHelp(env.Stdout, c, fs)
		return ExitOK
	}
	cmd := args[0]
	if cmd == "migrate" {
		return runMigrate(ctx, args[1:], env)
	}
	c, ok := commandNamed(cmd)
	if !ok {
		fmt.Fprintf(env.Stderr, "elbguard: unknown command %q; run 'elbguard help' for the list\n", cmd)
		return ExitUsage
	}
	opts, err := parse(cmd, args[1:], env)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, fs, _ := flags(c.name, env)
			printCommandHelp(env.Stdout, c, fs)
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "elbguard %s: %v\nRun 'elbguard %s --help' for its flags.\n", cmd, flagError(err), cmd)
		return ExitUsage
	}
	log, err := cliLogger(env, opts.debug)
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
		return ExitUsage
	}
	var count []awsclient.Option
	if opts.stats {
		counter := awscount.New()
		count = append(count, counter.Instrument)
		defer func() { fmt.Fprintf(env.Stderr, "API calls by action:\n%s", indent(counter.String())) }()
	}
	if opts.org.multi() {
		return runMulti(ctx, env, cmd, opts, log, count)
	}
	if opts.orgCfg.Limits != (awsclient.Limits{}) { // ELBGUARD_RATE_*: a single-account run paced as asked
		count = append(count, awsclient.NewLimiter(opts.orgCfg.Limits).Option)
	}
	clients, err := awsclient.LoadWith(ctx, opts.aws, count...)
	if err != nil {
		fail(env, opts, err)
		return ExitUsage
	}
	restore, err := fleet.RestoreKeyFromEnv(ctx, env.Getenv, clients.Config) // none: restore records are reported, not acted on
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
		return ExitUsage
	}
	signed, err := restore.ForClients(ctx, clients)
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
		return ExitUsage
	}
	eng, err := fleet.NewEngine(clients, opts.cfg, log, signed...)
	if err != nil {
		fail(env, opts, err)
		return ExitUsage
	}
	if opts.output == "html" {
		opts.where.Regions = []string{clients.Config.Region}
		if id, err := clients.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
			opts.where.Accounts = []string{aws.ToString(id.Account)}
		}
	}
	pub := fleet.NewPublisher(opts.sinks, clients, log)
	switch cmd {
	case "audit", "remediate":
		run := func(ctx context.Context, cfg engine.Config, plan *engine.Result) (*engine.Result, error) {
			e := eng
			if !reflect.DeepEqual(cfg, opts.cfg) {
				if e, err = fleet.NewEngine(clients, cfg, log, signed...); err != nil {
					return nil, err
				}
			}
			switch {
			case plan != nil:
				return e.WithPlan(plan).Reconcile(ctx, engine.Approved(plan, "", ""))
			case len(opts.args) > 0:
				return e.Reconcile(ctx, opts.targets)
			}
			return e.Sweep(ctx)
		}
		res, code := runPlanned(ctx, env, cmd, opts, run)
		if res == nil {
			return code
		}
		notFound(res, opts.args)
		publishCLI(ctx, env, pub, res)
		return report(env, opts, res, nil, code)
	default:
		return handle(ctx, env, opts, eng, nil, clients.STS, log, clients.Region())
	}
}

// flags builds cmd's flag set: the one definition that parse reads and
// help prints. Its options start from the ELBGUARD_* environment.
func flags(cmd string, env Env) (*options, *flag.FlagSet, error) {
	base, err := fleet.ConfigFromEnv(env.Getenv)
	o := &options{cfg: base}
	fs := flag.NewFlagSet("elbguard "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by Run, help by printCommandHelp
	def := base.WithDefaults()
	fs.String("default-mode", string(def.DefaultMode), "mode of untagged load balancers: enforce, audit or off")
	fs.StringVar(&o.cfg.TagKey, "tag-key", def.TagKey, "tag that sets a load balancer's mode")
	fs.StringVar(&o.cfg.IdleTimeoutTagKey, "idle-timeout-tag-key", def.IdleTimeoutTagKey, "tag that sets the idle timeout in seconds")
	fs.StringVar(&o.iacTags, "iac-tags", env.Getenv(fleet.EnvIaCTags), "tags that mark a load balancer as owned by infrastructure as code: `KEY[=VALUE],...` (ManagedBy=terraform)")
	fs.IntVar(&o.cfg.Concurrency, "concurrency", def.Concurrency, "load balancers handled at once (1-64)")
	fs.StringVar(&o.aws.Region, "region", "", "AWS region (default: AWS_REGION or the profile's)")
	fs.StringVar(&o.aws.Profile, "profile", "", "named profile from the AWS shared files (default: AWS_PROFILE)")
	fs.StringVar(&o.aws.EndpointURL, "endpoint-url", "", "send every AWS call to this URL (default: AWS_ENDPOINT_URL)")
	fs.StringVar(&o.output, "output", "table", "output `format`: "+map[bool]string{true: "table, json or html (one self-contained page)", false: "table or json"}[cmd != "handle"])
	fs.StringVar(&o.output, "o", "table", "short for --output")
	fs.BoolVar(&o.stats, "stats", false, "print API calls by action to stderr")
	fs.BoolVar(&o.debug, "debug", false, "log every step to stderr and print errors' full chain")
	fs.StringVar(&o.org.accounts, "accounts", "", "accounts to cover: `ID,ID,...` or org (Organizations); default: the caller's only")
	fs.StringVar(&o.org.regions, "regions", "", "regions to cover: `R,R,...` or all (enabled regions); default: --region")
	fs.StringVar(&o.org.roleName, "role-name", cmp.Or(env.Getenv(fleet.EnvRoleName), awsclient.DefaultRoleName), "role assumed in other accounts")
	if err != nil {
		return o, fs, err
	}
	if o.sinks, err = fleet.SinksFromEnv(env.Getenv); err != nil {
		return o, fs, err
	}
	if cmd != "handle" {
		fs.BoolVar(&o.sinks.SecurityHub, "securityhub", o.sinks.SecurityHub, "import the findings into Security Hub (BatchImportFindings)")
	}
	if cmd != "audit" {
		fs.BoolVar(&o.cfg.DryRun, "dry-run", base.DryRun, "plan every action, change nothing")
	}
	if cmd == "remediate" {
		fs.BoolVar(&o.yes, "yes", false, "apply the plan without asking (required to remediate everything in scope without a terminal)")
	}
	fs.IntVar(&o.cfg.MaxChanges, "max-changes", def.MaxChanges, "load balancers changed per run per account x region; the rest are deferred")
	fs.IntVar(&o.cfg.MaxErrors, "max-errors", def.MaxErrors, "failed changes after which a run stops changing; the rest are deferred")
	return o, fs, nil
}

// flagError names flags with two dashes, as the help does; the flag
// package's own messages use one.
func flagError(err error) string {
	s := err.Error()
	for _, p := range []string{"flag provided but not defined: -", "flag needs an argument: -", " for flag -"} {
		if i := strings.Index(s, p); i >= 0 {
			s = s[:i+len(p)] + "-" + s[i+len(p):]
		}
	}
	return strings.Replace(s, "flag provided but not defined", "unknown flag", 1)
}

// parse reads flags; defaults come from the ELBGUARD_* environment.
func parse(cmd string, args []string, env Env) (options, error) {
	o, fs, err := flags(cmd, env)
	if err != nil {
		return *o, err
	}
	// Flags may follow arguments ("remediate web --dry-run").
	for {
		if err := fs.Parse(args); err != nil {
			return *o, err
		}
		if fs.NArg() == 0 {
			break
		}
		o.args = append(o.args, fs.Arg(0))
		args = fs.Args()[1:]
	}
	mode := fs.Lookup("default-mode").Value.String()
	m, err := engine.ParseMode(mode)
	if err != nil {
		return *o, fmt.Errorf("--default-mode %q: want enforce, audit or off", mode)
	}
	o.cfg.DefaultMode = m
	if o.cfg.IaCTags, err = engine.ParseIaCTags(o.iacTags); err != nil {
		return *o, fmt.Errorf("--iac-tags: %w", err)
	}
	if o.cfg.Concurrency < 1 || o.cfg.Concurrency > engine.MaxConcurrency {
		return *o, fmt.Errorf("--concurrency %d: want 1 to %d", o.cfg.Concurrency, engine.MaxConcurrency)
	}
	if cmd == "audit" {
		o.cfg.DryRun = true
	}
	if cmd != "handle" {
		if o.targets, err = targets(o.args); err != nil {
			return *o, err
		}
	}
	if o.cfg.MaxChanges < 1 || o.cfg.MaxChanges > engine.MaxBudget {
		return *o, fmt.Errorf("--max-changes %d: want 1 to %d", o.cfg.MaxChanges, engine.MaxBudget)
	}
	if o.cfg.MaxErrors < 1 || o.cfg.MaxErrors > engine.MaxBudget {
		return *o, fmt.Errorf("--max-errors %d: want 1 to %d", o.cfg.MaxErrors, engine.MaxBudget)
	}
	if cmd == "handle" && len(o.args) != 1 {
		return *o, errors.New("handle needs exactly one FILE or -")
	}
	if o.output != "table" && o.output != "json" && (o.output != "html" || cmd == "handle") {
		if cmd == "handle" {
			return *o, fmt.Errorf("--output %q: want table or json", o.output)
		}
		return *o, fmt.Errorf("--output %q: want table, json or html", o.output)
	}
	o.aws.Region = cmp.Or(o.aws.Region, o.region)
	o.region = o.aws.Region
	if err := o.cfg.Validate(); err != nil {
		return *o, err
	}
	if o.orgCfg, err = o.org.orgConfig(env.Getenv); err != nil {
		return *o, err
	}
	return *o, nil
}

// targets files NAME|ARN arguments: ELBv2 ARNs, Classic ARNs (by name),
// target group ARNs and plain names (Classic or ELBv2). An argument that
// starts like an ARN but is not a load balancer's or target group's is a
// usage error, not a name that is then reported missing.
func targets(args []string) (engine.Targets, error) {
	var t engine.Targets
	for _, a := range args {
		switch {
		case events.IsV2LoadBalancerARN(a):
			t.LoadBalancers = append(t.LoadBalancers, a)
		case strings.HasPrefix(a, "arn:"):
			if name, ok := events.ClassicNameFromARN(a); ok {
				t.Classic = append(t.Classic, name)
			} else if events.IsTargetGroupARN(a) {
				t.TargetGroups = append(t.TargetGroups, a)
			} else {
				return t, fmt.Errorf("%q is not a load balancer or target group ARN (want arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/NAME, loadbalancer/net/NAME/ID or targetgroup/NAME/ID)", a)
			}
		default:
			t.Names = append(t.Names, a)
		}
	}
	return t, nil
}

// cliLogger is a command's logger. A CLI speaks through its output and exit
// status: log lines go to stderr only under --debug (every level) or an
// explicit ELBGUARD_LOG_LEVEL.
func cliLogger(env Env, debug bool) (*slog.Logger, error) {
	level, err := fleet.LogLevelFromEnv(env.Getenv)
	if err != nil {
		return nil, err
	}
	to := env.Stderr
	switch {
	case debug:
		level = slog.LevelDebug
	case env.Getenv(fleet.EnvLogLevel) == "":
		to = io.Discard
	}
	return slog.New(slog.NewTextHandler(to, &slog.HandlerOptions{Level: level})), nil
}

// fail prints err as one line that says what to do (explain), and under
// --debug its full chain.
func fail(env Env, o options, err error) {
	fmt.Fprintf(env.Stderr, "elbguard: %s\n", explain(err))
	if o.debug {
		fmt.Fprintf(env.Stderr, "elbguard: debug: %v\n", err)
	}
}

// report prints a result and maps it to an exit status: 1 when anything is
// left over (isLeftOver), at least code. A dry run's table is followed by
// its plan.
func report(env Env, o options, res *engine.Result, err error, code int) int {
	if err != nil {
		fail(env, o, err)
		return ExitUsage
	}
	if err := write(env.Stdout, o, res, res); err != nil {
		fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
		return ExitUsage
	}
	if o.output == "table" && o.cfg.DryRun {
		fmt.Fprintln(env.Stdout)
		if err := Plan(env.Stdout, res); err != nil {
			fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
			return ExitUsage
		}
	}
	return max(code, exitFor(res, isLeftOver))
}

func exitFor(res *engine.Result, bad func(engine.Status) bool) int {
	for _, r := range res.Reports {
		if bad(r.Status) {
			return ExitFound
		}
	}
	return ExitOK
}

// handle runs one event through fleet.Enforcer, the Lambda's own code path.
// region is the single-account run's (empty with a fleet, which routes the
// event by its own account and region).
func handle(ctx context.Context, env Env, o options, eng *engine.Engine, fl *fleet.Fleet, self fleet.CallerIdentityAPI, log *slog.Logger, region string) int {
	var raw []byte
	var err error
	if o.args[0] == "-" {
		raw, err = io.ReadAll(env.Stdin)
	} else {
		raw, err = os.ReadFile(o.args[0])
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard handle: read event: %v\n", err)
		return ExitUsage
	}
	selfARN, err := fleet.SelfARN(ctx, env.Getenv(fleet.EnvSelfRoleARN), self)
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard handle: %v\n", err)
		return ExitUsage
	}
	if fl == nil {
		if code := refuseForeign(ctx, env, raw, self, region); code != ExitOK {
			return code
		}
	}
	h := &fleet.Enforcer{Engine: eng, Fleet: fl, SelfARN: selfARN, Log: log}
	out, herr := h.Handle(ctx, raw)
	var res *engine.Result
	if out != nil {
		res = out.Result
	}
	if werr := write(env.Stdout, o, out, res); werr != nil {
		fmt.Fprintf(env.Stderr, "elbguard handle: %v\n", werr)
		return ExitUsage
	}
	switch {
	case out.BadInput:
		fmt.Fprintf(env.Stderr, "elbguard handle: %s\n", out.Decision.Reason)
		return ExitUsage
	case out.Result == nil && out.Error != "":
		fmt.Fprintf(env.Stderr, "elbguard handle: %s\n", out.Error)
		return ExitUsage
	case herr != nil:
		fmt.Fprintf(env.Stderr, "elbguard handle: %v\n", herr)
		return ExitFound
	case out.Result == nil:
		if o.output == "table" {
			fmt.Fprintf(env.Stdout, "event %s: %s (%s)\n", out.Decision.EventName, out.Decision.Kind, out.Decision.Reason)
		}
		return ExitOK
	}
	return exitFor(out.Result, func(s engine.Status) bool { return s == engine.StatusError })
}

// refuseForeign stops a single-account handle of an event for another
// account or region (ExitUsage, with the reason): there the load balancer is
// not found and would be reported gone.
func refuseForeign(ctx context.Context, env Env, raw []byte, self fleet.CallerIdentityAPI, region string) int {
	var caller string
	if account, _ := fleet.EventOrigin(raw); account != "" {
		id, err := self.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			fmt.Fprintf(env.Stderr, "elbguard handle: find this run's account (sts:GetCallerIdentity): %v\n", err)
			return ExitUsage
		}
		caller = aws.ToString(id.Account)
	}
	if reason := fleet.ForeignEvent(raw, caller, region); reason != "" {
		fmt.Fprintf(env.Stderr, "elbguard handle: %s\n", reason)
		return ExitUsage
	}
	return ExitOK
}

// publishCLI publishes a run to the sinks asked for and says on stderr
// what could not be published; the exit status is the run's own.
func publishCLI(ctx context.Context, env Env, pub *compliance.Publisher, res *engine.Result) {
	if slices.ContainsFunc(res.Reports, func(r engine.Report) bool { return r.Status == engine.StatusNotFound }) {
		// A name that was never there is no resource to report on.
		cp := *res
		cp.Reports = slices.DeleteFunc(slices.Clone(res.Reports), func(r engine.Report) bool { return r.Status == engine.StatusNotFound })
		res = &cp
	}
	for name, st := range pub.Publish(ctx, res, compliance.Trigger{Kind: compliance.TriggerCLI}) {
		if st.Failed > 0 {
			fmt.Fprintf(env.Stderr, "elbguard: %s: %d not published (%d sent); see the log above\n", name, st.Failed, st.Sent)
		}
	}
}

func indent(s string) string {
	if s == "" {
		return "  (none)\n"
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
