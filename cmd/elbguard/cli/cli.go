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
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elbguard/elbguard/compliance"
	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/events"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
	"github.com/elbguard/elbguard/internal/awscount"
)

// Exit codes.
const (
	ExitOK    = 0 // everything in scope complies (audit) or was handled
	ExitFound = 1 // a load balancer is non_compliant (audit) or in error
	ExitUsage = 2 // usage, configuration, credential or endpoint error
)

const usage = `usage: elbguard COMMAND [flags]

Commands:
  audit     [--output table|json|html] [--securityhub]       evaluate every load balancer; write nothing
  remediate [--dry-run] [--output table|json] [NAME|ARN ...] apply to all in-scope load balancers, or those named
  handle    [--dry-run] [--output table|json] FILE|-         handle one EventBridge event exactly as the enforcer Lambda

audit and remediate: --securityhub imports the findings into Security Hub (or ELBGUARD_SECURITY_HUB=true);
ELBGUARD_NOTIFY_TOPIC_ARN=ARN sends remediate's notifications to an SNS topic.
Common flags: --tag-key KEY  --default-mode enforce|audit|off  --concurrency N  --region REGION  --stats
  --iac-tags KEY[=VALUE],...  tags that mark IaC ownership beside CloudFormation's, Beanstalk's and Kubernetes'
  (Terraform, OpenTofu, Pulumi, Crossplane add none: ManagedBy=terraform,crossplane.io/claim-name)
Accounts and regions (like c7n-org): --accounts ID,ID,...|org  --regions R,R,...|all  --role-name NAME
  (default elbguard-spoke): audit and remediate cover every account x region, handle acts in the
  event's account and region; other accounts through sts:AssumeRole of arn:aws:iam::ID:role/NAME.
Defaults come from ELBGUARD_* environment variables, endpoint and credentials from the
standard AWS configuration (AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE, ...).

Exit status: 0 compliant/handled, 1 non_compliant or error found, 2 usage, credential or endpoint error.
`

// Env is what a run of the command sees of its process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// options are the parsed flags of one command.
type options struct {
	cfg    engine.Config
	region string
	output string
	stats  bool
	sinks  fleet.Sinks
	args   []string
	org    orgFlags        // --accounts, --regions, --role-name
	orgCfg fleet.OrgConfig // checked from org and the environment
}

// Run executes the command line args (without the program name) and returns
// the exit status.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stderr, usage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd := args[0]
	if cmd != "audit" && cmd != "remediate" && cmd != "handle" {
		fmt.Fprintf(env.Stderr, "elbguard: unknown command %q\n\n%s", cmd, usage)
		return ExitUsage
	}
	opts, err := parse(cmd, args[1:], env)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "elbguard %s: %v\n", cmd, err)
		return ExitUsage
	}
	level, err := fleet.LogLevelFromEnv(env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
		return ExitUsage
	}
	if env.Getenv(fleet.EnvLogLevel) == "" {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
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
	clients, err := awsclient.Load(ctx, opts.region, count...)
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
		return ExitUsage
	}
	eng, err := fleet.NewEngine(clients, opts.cfg, log)
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
		return ExitUsage
	}
	pub := fleet.NewPublisher(opts.sinks, clients, log)
	switch cmd {
	case "audit":
		res, err := eng.Sweep(ctx)
		publishCLI(ctx, env, pub, res)
		return report(env, opts, res, err, func(s engine.Status) bool {
			return s == engine.StatusNonCompliant || s == engine.StatusError
		})
	case "remediate":
		var res *engine.Result
		if len(opts.args) == 0 {
			res, err = eng.Sweep(ctx)
		} else {
			res, err = eng.Reconcile(ctx, targets(opts.args))
		}
		publishCLI(ctx, env, pub, res)
		return report(env, opts, res, err, func(s engine.Status) bool { return s == engine.StatusError })
	default:
		return handle(ctx, env, opts, eng, nil, clients.STS, log, clients.Region())
	}
}

// parse reads flags; defaults come from the ELBGUARD_* environment.
func parse(cmd string, args []string, env Env) (options, error) {
	base, err := fleet.ConfigFromEnv(env.Getenv)
	if err != nil {
		return options{}, err
	}
	fs := flag.NewFlagSet("elbguard "+cmd, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, usage) }
	o := options{cfg: base}
	def := base.WithDefaults()
	mode := fs.String("default-mode", string(def.DefaultMode), "mode of untagged load balancers: enforce, audit or off")
	fs.StringVar(&o.cfg.TagKey, "tag-key", def.TagKey, "tag that sets a load balancer's mode")
	fs.StringVar(&o.cfg.IdleTimeoutTagKey, "idle-timeout-tag-key", def.IdleTimeoutTagKey, "tag that sets the idle timeout in seconds")
	iacTags := fs.String("iac-tags", env.Getenv(fleet.EnvIaCTags), "tags that mark a load balancer as owned by infrastructure as code: KEY[=VALUE],... (ManagedBy=terraform)")
	fs.IntVar(&o.cfg.Concurrency, "concurrency", def.Concurrency, "load balancers handled at once (1-64)")
	fs.StringVar(&o.region, "region", "", "AWS region (default: standard AWS configuration)")
	fs.StringVar(&o.output, "output", "table", "output format: table, json or html (one self-contained page)")
	fs.BoolVar(&o.stats, "stats", false, "print API calls by action to stderr")
	fs.StringVar(&o.org.accounts, "accounts", "", "accounts to cover: ID,ID,... or org (Organizations); default: the caller's only")
	fs.StringVar(&o.org.regions, "regions", "", "regions to cover: R,R,... or all (enabled regions); default: --region")
	fs.StringVar(&o.org.roleName, "role-name", cmp.Or(env.Getenv(fleet.EnvRoleName), awsclient.DefaultRoleName), "role assumed in other accounts")
	if o.sinks, err = fleet.SinksFromEnv(env.Getenv); err != nil {
		return o, err
	}
	if cmd != "handle" {
		fs.BoolVar(&o.sinks.SecurityHub, "securityhub", o.sinks.SecurityHub, "import the findings into Security Hub (BatchImportFindings)")
	}
	if cmd != "audit" {
		fs.BoolVar(&o.cfg.DryRun, "dry-run", base.DryRun, "plan every action, change nothing")
	}
	// Flags may follow arguments ("remediate web --dry-run").
	for {
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		if fs.NArg() == 0 {
			break
		}
		o.args = append(o.args, fs.Arg(0))
		args = fs.Args()[1:]
	}
	m, err := engine.ParseMode(*mode)
	if err != nil {
		return o, fmt.Errorf("--default-mode %q: want enforce, audit or off", *mode)
	}
	o.cfg.DefaultMode = m
	if o.cfg.IaCTags, err = engine.ParseIaCTags(*iacTags); err != nil {
		return o, fmt.Errorf("--iac-tags: %w", err)
	}
	if o.cfg.Concurrency < 1 || o.cfg.Concurrency > engine.MaxConcurrency {
		return o, fmt.Errorf("--concurrency %d: want 1 to %d", o.cfg.Concurrency, engine.MaxConcurrency)
	}
	if cmd == "audit" {
		o.cfg.DryRun = true
		if len(o.args) > 0 {
			return o, fmt.Errorf("audit takes no arguments; got %q", o.args)
		}
	}
	if cmd == "handle" && len(o.args) != 1 {
		return o, errors.New("handle needs exactly one FILE or -")
	}
	if o.output != "table" && o.output != "json" && o.output != "html" {
		return o, fmt.Errorf("--output %q: want table, json or html", o.output)
	}
	if err := o.cfg.Validate(); err != nil {
		return o, err
	}
	if o.orgCfg, err = o.org.orgConfig(env.Getenv); err != nil {
		return o, err
	}
	return o, nil
}

// targets files NAME|ARN arguments: ELBv2 ARNs, Classic ARNs (by name) and
// plain names (Classic or ELBv2).
func targets(args []string) engine.Targets {
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
				t.Names = append(t.Names, a) // reported as not found
			}
		default:
			t.Names = append(t.Names, a)
		}
	}
	return t
}

// report prints a result and maps it to an exit status: bad(status) → 1.
func report(env Env, o options, res *engine.Result, err error, bad func(engine.Status) bool) int {
	if err != nil {
		fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
		return ExitUsage
	}
	if err := write(env.Stdout, o.output, res, res); err != nil {
		fmt.Fprintf(env.Stderr, "elbguard: %v\n", err)
		return ExitUsage
	}
	return exitFor(res, bad)
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
	if werr := write(env.Stdout, o.output, out, res); werr != nil {
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
