package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/fleet"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// RegionsAll as the --regions value means every region enabled for the
// account the CLI runs as (ec2:DescribeRegions).
const RegionsAll = "all"

// orgFlags are the multi-account flags, like c7n-org's.
type orgFlags struct {
	accounts, regions, roleName string
}

// multi reports whether the run covers accounts or regions beyond the
// configured one.
func (f orgFlags) multi() bool { return f.accounts != "" || f.regions != "" }

// orgConfig checks the flags into a fleet.OrgConfig; regions "all" is
// resolved later, with credentials.
func (f orgFlags) orgConfig(getenv func(string) string) (fleet.OrgConfig, error) {
	org, err := fleet.OrgConfigFromEnv(getenv)
	if err != nil {
		return org, err
	}
	if org.Accounts, org.Org, err = fleet.ParseAccounts(f.accounts); err != nil {
		return org, fmt.Errorf("--accounts: %w", err)
	}
	// --accounts A,B is exactly A and B (the caller's own account too only
	// when named); org is every active account of the organization.
	org.NamedOnly, org.OrgUnits = f.accounts != "", nil
	org.Regions = nil
	if f.regions != RegionsAll {
		if org.Regions, err = fleet.ParseRegions(f.regions); err != nil {
			return org, fmt.Errorf("--regions: %w", err)
		}
	}
	if !awsclient.ValidRoleName(f.roleName) {
		return org, fmt.Errorf("--role-name %q: want an IAM role name (1 to 64 of A-Z a-z 0-9 +=,.@_-)", f.roleName)
	}
	org.RoleName = f.roleName
	return org, nil
}

// RegionsAPI is the EC2 call that lists the enabled regions.
type RegionsAPI interface {
	DescribeRegions(ctx context.Context, in *ec2.DescribeRegionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// enabledRegions lists the regions enabled for the caller's account.
func enabledRegions(ctx context.Context, api RegionsAPI) ([]string, error) {
	out, err := api.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(false)})
	if err != nil {
		return nil, fmt.Errorf("list enabled regions (ec2:DescribeRegions): %w", err)
	}
	var regions []string
	for _, r := range out.Regions {
		if name := aws.ToString(r.RegionName); awsclient.ValidRegion(name) {
			regions = append(regions, name)
		}
	}
	if len(regions) == 0 {
		return nil, errors.New("list enabled regions (ec2:DescribeRegions): none")
	}
	return regions, nil
}

// runMulti is Run across accounts and regions: audit and remediate cover
// every account × region, UnitParallel at once; handle acts in the account
// and region the event names.
func runMulti(ctx context.Context, env Env, cmd string, o options, log *slog.Logger, count []awsclient.Option) int {
	base, err := awsclient.LoadSettings(ctx, o.aws)
	if err != nil {
		fail(env, o, err)
		return ExitUsage
	}
	if o.org.regions == RegionsAll {
		cfg := base.Copy()
		for _, opt := range count {
			opt(&cfg)
		}
		if o.orgCfg.Regions, err = enabledRegions(ctx, ec2.NewFromConfig(cfg)); err != nil {
			fail(env, o, err)
			return ExitUsage
		}
	}
	fl, err := fleet.NewFleet(ctx, base, o.orgCfg, o.cfg, log, count...)
	if err != nil {
		fail(env, o, err)
		return ExitUsage
	}
	if fl.RestoreKey, err = fleet.RestoreKeyFromEnv(ctx, env.Getenv, base); err != nil {
		fail(env, o, err)
		return ExitUsage
	}
	switch cmd {
	case "audit", "remediate":
		var units []fleet.Unit
		if len(o.args) > 0 {
			units, err = unitsFor(ctx, fl, o.args)
		} else {
			units, err = fl.Units(ctx)
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "elbguard %s: %v\n", cmd, err)
			return ExitUsage
		}
		run := func(ctx context.Context, cfg engine.Config, plan *engine.Result) (*engine.Result, error) {
			f := fl
			if !reflect.DeepEqual(cfg, o.cfg) || plan != nil {
				if f, err = fleet.NewFleet(ctx, base, o.orgCfg, cfg, log, count...); err != nil {
					return nil, err
				}
				f.Plan = plan
				f.RestoreKey = fl.RestoreKey // the apply signs its write-ahead records as the plan's run would
			}
			units := units
			if plan != nil { // only the locations and load balancers the plan changes
				units = approvedUnits(plan)
			}
			return f.RunAll(ctx, units, fleet.UnitParallel), nil
		}
		res, code := runPlanned(ctx, env, cmd, o, run)
		if res == nil {
			return code
		}
		notFound(res, o.args)
		// Each location's findings go to Security Hub with its own credentials.
		publishCLI(ctx, env, fleet.NewFleetPublisher(o.sinks, awsclient.FromConfig(base, count...), fl, log), res)
		return report(env, o, res, nil, code)
	default:
		cfg := base.Copy()
		for _, opt := range count {
			opt(&cfg)
		}
		return handle(ctx, env, o, nil, fl, sts.NewFromConfig(cfg), log, "")
	}
}

// unitsFor files ARN arguments by the account and region they name; with
// --accounts or --regions a plain name is ambiguous and refused.
func unitsFor(ctx context.Context, fl *fleet.Fleet, args []string) ([]fleet.Unit, error) {
	var units []fleet.Unit
	index := map[[2]string]int{}
	for _, a := range args {
		parts := strings.SplitN(a, ":", 6)
		if len(parts) != 6 || parts[0] != "arn" {
			return nil, fmt.Errorf("%q: with --accounts or --regions, name load balancers by ARN (it names the account and region)", a)
		}
		region, account := parts[3], parts[4]
		reason, err := fl.Scope.Check(ctx, account, region)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			return nil, fmt.Errorf("%q: %s", a, reason)
		}
		key := [2]string{account, region}
		i, ok := index[key]
		if !ok {
			i = len(units)
			index[key] = i
			units = append(units, fleet.Unit{Account: account, Region: region, Remaining: &engine.Targets{}})
		}
		t, err := targets([]string{a})
		if err != nil {
			return nil, err
		}
		r := units[i].Remaining
		r.Classic = append(r.Classic, t.Classic...)
		r.LoadBalancers = append(r.LoadBalancers, t.LoadBalancers...)
		r.TargetGroups = append(r.TargetGroups, t.TargetGroups...)
		r.Names = append(r.Names, t.Names...)
	}
	return units, nil
}
