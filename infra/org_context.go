package infra

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// Context keys of the organization stacks. Lists are comma-separated with
// -c (accounts=111111111111,222222222222) or JSON arrays in cdk.json.
const (
	CtxHub             = "hub"             // true: add ElbGuardHub
	CtxOrgID           = "orgId"           // o-...: the organization
	CtxAccounts        = "accounts"        // spoke account ids; empty: every account of orgId
	CtxRegions         = "regions"         // regions to guard in every account (hub and StackSet)
	CtxOrgUnits        = "orgUnits"        // OU ids: deploy the spoke StackSet there
	CtxSpokeRoleName   = "spokeRoleName"   // default elbguard-spoke
	CtxSweepWorkers    = "sweepWorkers"    // sweep workers' maximum concurrency
	CtxRateDescribe    = "rateDescribe"    // ELB reads per second per account and region
	CtxRateMutate      = "rateMutate"      // ELB writes per second per account and region
	CtxStackSetCallAs  = "stackSetCallAs"  // DELEGATED_ADMIN (default) or SELF
	CtxHubRoleArn      = "hubRoleArn"      // set: add ElbGuardSpoke trusting this role
	CtxHubAccount      = "hubAccount"      // the hub's account (default: hubRoleArn's)
	CtxHubRegion       = "hubRegion"       // the hub bus's region (default: the spoke's)
	CtxSpokeRoleRegion = "spokeRoleRegion" // the one region whose spoke stack creates the role
)

// OrgConfig is the organization part of Config.
type OrgConfig struct {
	// Hub adds the ElbGuardHub stack (context hub=true), with the
	// Enforcer settings of Config.Enforcer.
	Hub *HubProps
	// StackSet adds the spoke StackSet to ElbGuardHub (context orgUnits).
	StackSet *StackSetProps
	// Spoke adds the ElbGuardSpoke stack (context hubRoleArn or hubAccount);
	// its enforcement settings follow Config.Enforcer.
	Spoke *SpokeProps
}

// readOrgContext fills cfg.Org from context.
func readOrgContext(r *ctxReader, cfg *Config) {
	orgID, roleName := r.str(CtxOrgID), r.str(CtxSpokeRoleName)
	if r.boolean(CtxHub) {
		cfg.Org.Hub = &HubProps{
			OrgID:         orgID,
			Accounts:      r.list(CtxAccounts),
			Regions:       r.list(CtxRegions),
			SpokeRoleName: roleName,
			SweepWorkers:  r.integer(CtxSweepWorkers),
			RateDescribe:  r.number(CtxRateDescribe),
			RateMutate:    r.number(CtxRateMutate),
		}
	}
	if units := r.list(CtxOrgUnits); len(units) > 0 {
		cfg.Org.StackSet = &StackSetProps{OrgUnits: units, CallAs: r.str(CtxStackSetCallAs)}
	}
	if arn, account := r.str(CtxHubRoleArn), r.str(CtxHubAccount); arn != "" || account != "" {
		cfg.Org.Spoke = &SpokeProps{
			RoleName:   roleName,
			OrgID:      orgID,
			HubRoleArn: arn,
			HubAccount: account,
			HubRegion:  r.str(CtxHubRegion),
			RoleRegion: r.str(CtxSpokeRoleRegion),
		}
	}
}

// buildOrg adds the organization stacks cfg.Org asks for.
func buildOrg(app awscdk.App, cfg Config) error {
	if cfg.Org.StackSet != nil && cfg.Org.Hub == nil {
		return fmt.Errorf("%w: context %s: the spoke StackSet belongs to the hub: add -c %s=true", ErrInvalidProps, CtxOrgUnits, CtxHub)
	}
	if cfg.Org.Hub != nil {
		p := cfg.Enforcer
		p.Hub = cfg.Org.Hub
		if _, err := NewHubStack(app, HubStackName, nil, &HubStackProps{Enforcer: p, StackSet: cfg.Org.StackSet}); err != nil {
			return err
		}
	}
	if cfg.Org.Spoke != nil {
		s := *cfg.Org.Spoke
		s.TagKey, s.DefaultMode, s.DryRun = cfg.Enforcer.TagKey, cfg.Enforcer.DefaultMode, cfg.Enforcer.DryRun
		s.SecurityHub = cfg.Enforcer.Compliance.SecurityHub
		if _, err := NewSpokeStack(app, SpokeStackName, nil, &s); err != nil {
			return err
		}
	}
	return nil
}

// list reads a comma-separated string or a JSON array of strings; empty
// items are dropped.
func (r *ctxReader) list(key string) []string {
	var items []string
	switch v := r.get(key).(type) {
	case nil:
		return nil
	case string:
		items = strings.Split(v, ",")
	case []any:
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				r.fail(key, v, "a list of strings")
				return nil
			}
			items = append(items, s)
		}
	default:
		r.fail(key, v, "a comma-separated list")
		return nil
	}
	var out []string
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// number reads a non-negative decimal number.
func (r *ctxReader) number(key string) float64 {
	switch v := r.get(key).(type) {
	case nil:
		return 0
	case float64:
		return v
	case int:
		return float64(v)
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			r.fail(key, v, "a number")
			return 0
		}
		return f
	default:
		r.fail(key, v, "a number")
		return 0
	}
}
