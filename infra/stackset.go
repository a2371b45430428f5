package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudformation"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// StackSet settings.
const (
	// SpokeStackSetName is the StackSet the hub deploys the spoke with.
	SpokeStackSetName = "elbguard-spoke"
	// MaxTemplateBodyBytes is CloudFormation's limit on an inline template
	// (TemplateBody); the spoke has no assets, so it must fit.
	MaxTemplateBodyBytes = 51200
	// DefaultFailureTolerancePercentage and DefaultMaxConcurrentPercentage
	// are the StackSet's operation preferences: deploy to a quarter of the
	// accounts at once, stop when more than a tenth fail.
	DefaultFailureTolerancePercentage = 10
	DefaultMaxConcurrentPercentage    = 25
)

// CallAsValues are the allowed StackSetProps.CallAs: the hub runs in a
// delegated administrator account for StackSets (the default), or in the
// organization's management account.
var CallAsValues = []string{"DELEGATED_ADMIN", "SELF"}

// StackSetProps makes the hub deploy the spoke to organizational units with
// a service-managed StackSet: every account of those units, in every region
// of HubProps.Regions, now and as accounts join (automatic deployment);
// removed when an account leaves.
type StackSetProps struct {
	// OrgUnits are the organizational unit ids (ou-...) or the root id
	// (r-...) to deploy to. Required.
	OrgUnits []string
	// CallAs is "DELEGATED_ADMIN" (the hub's account is a delegated
	// administrator for StackSets) or "SELF" (the management account).
	// Empty: "DELEGATED_ADMIN".
	CallAs string
	// FailureTolerancePercentage is the share of accounts per region that
	// may fail before CloudFormation stops an operation, 0-100. Zero:
	// DefaultFailureTolerancePercentage (set it negative for 0).
	FailureTolerancePercentage int
	// MaxConcurrentPercentage is the share of accounts deployed at once,
	// 1-100. Zero: DefaultMaxConcurrentPercentage.
	MaxConcurrentPercentage int
}

func (s StackSetProps) withDefaults() StackSetProps {
	if s.CallAs == "" {
		s.CallAs = CallAsValues[0]
	}
	if s.FailureTolerancePercentage == 0 {
		s.FailureTolerancePercentage = DefaultFailureTolerancePercentage
	} else if s.FailureTolerancePercentage < 0 {
		s.FailureTolerancePercentage = 0
	}
	if s.MaxConcurrentPercentage == 0 {
		s.MaxConcurrentPercentage = DefaultMaxConcurrentPercentage
	}
	return s
}

func (s *StackSetProps) validate() error {
	if s == nil {
		return nil
	}
	v := s.withDefaults()
	if len(v.OrgUnits) == 0 {
		return fmt.Errorf("%w: StackSet.OrgUnits is empty: want at least one %s", ErrInvalidProps, wantOrgUnit)
	}
	if err := checkIDs("StackSet.OrgUnits", v.OrgUnits, orgUnitPattern, wantOrgUnit); err != nil {
		return err
	}
	if !slices.Contains(CallAsValues, v.CallAs) {
		return fmt.Errorf("%w: StackSet.CallAs %q: allowed values are %s", ErrInvalidProps, v.CallAs, strings.Join(CallAsValues, ", "))
	}
	if v.FailureTolerancePercentage > 100 {
		return fmt.Errorf("%w: StackSet.FailureTolerancePercentage %d: allowed values are 0-100", ErrInvalidProps, v.FailureTolerancePercentage)
	}
	if v.MaxConcurrentPercentage < 1 || v.MaxConcurrentPercentage > 100 {
		return fmt.Errorf("%w: StackSet.MaxConcurrentPercentage %d: allowed values are 1-100 (0 means %d)", ErrInvalidProps, v.MaxConcurrentPercentage, DefaultMaxConcurrentPercentage)
	}
	return nil
}

// spokePropsFor is the spoke that matches a hub Enforcer's props: the same
// enforcement settings, role name and organization, and the Security Hub
// import when the hub imports.
func spokePropsFor(p EnforcerProps) SpokeProps {
	h := p.Hub.withDefaults()
	return SpokeProps{TagKey: p.TagKey, DefaultMode: p.DefaultMode, DryRun: p.DryRun, RoleName: h.SpokeRoleName, OrgID: h.OrgID,
		SecurityHub: p.Compliance.SecurityHub}
}

// SpokeTemplateBody synthesizes the spoke (NewSpokeStack's code, in an app
// of its own, under the cdk-nag checks) and returns its template as compact
// JSON, ready for a StackSet's TemplateBody. props.HubRoleArn and HubAccount
// may be empty: the StackSet passes them as parameters. It fails on any
// unsuppressed cdk-nag error and on a template over MaxTemplateBodyBytes.
func SpokeTemplateBody(props SpokeProps) (string, error) {
	dir, err := os.MkdirTemp("", "elbguard-spoke-")
	if err != nil {
		return "", fmt.Errorf("spoke template: %w", err)
	}
	defer os.RemoveAll(dir)
	// No path metadata and no CDKMetadata resource: the body is inline and
	// counts against the 51,200-byte limit. PostCliContext wins over the
	// context the cdk CLI passes to the hub's app.
	noMetadata := map[string]interface{}{"aws:cdk:enable-path-metadata": false, "aws:cdk:version-reporting": false}
	app := awscdk.NewApp(&awscdk.AppProps{
		Outdir:             jsii.String(dir),
		AnalyticsReporting: jsii.Bool(false),
		TreeMetadata:       jsii.Bool(false),
		PostCliContext:     &noMetadata,
	})
	spoke, err := newSpokeStack(app, SpokeStackName, nil, &props, false)
	if err != nil {
		return "", fmt.Errorf("spoke template: %w", err)
	}
	AddNagChecks(app)
	art := app.Synth(nil).GetStackArtifact(spoke.Stack.ArtifactId())
	var nagErrors []string
	for _, m := range *art.Messages() {
		// The cloud assembly API still returns this type; its successor
		// has no Go binding yet.
		if m.Level == cxapi.SynthesisMessageLevel_ERROR { //nolint:staticcheck // see above
			nagErrors = append(nagErrors, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data)) //nolint:staticcheck // see above
		}
	}
	if len(nagErrors) > 0 {
		return "", fmt.Errorf("spoke template: %d errors: %s", len(nagErrors), strings.Join(nagErrors, "; "))
	}
	b, err := json.Marshal(art.Template())
	if err != nil {
		return "", fmt.Errorf("spoke template: encode: %w", err)
	}
	if len(b) > MaxTemplateBodyBytes {
		return "", fmt.Errorf("spoke template: %d bytes; CloudFormation takes at most %d inline", len(b), MaxTemplateBodyBytes)
	}
	return string(b), nil
}

// newSpokeStackSet deploys body with a service-managed StackSet to the
// organizational units in ss and the hub's regions, passing the hub's role,
// account and region as parameters.
func newSpokeStackSet(scope constructs.Construct, e *Enforcer, ss StackSetProps, body string) awscloudformation.CfnStackSet {
	stack := awscdk.Stack_Of(scope)
	h := e.Props.Hub.withDefaults()
	param := func(k string, v *string) interface{} {
		return &awscloudformation.CfnStackSet_ParameterProperty{ParameterKey: jsii.String(k), ParameterValue: v}
	}
	return awscloudformation.NewCfnStackSet(scope, jsii.String("SpokeStackSet"), &awscloudformation.CfnStackSetProps{
		StackSetName:    jsii.String(SpokeStackSetName),
		Description:     jsii.String("elbguard spoke in every account of the organizational units: the role the hub assumes and the ELB event forwarding"),
		PermissionModel: jsii.String("SERVICE_MANAGED"),
		CallAs:          jsii.String(ss.CallAs),
		AutoDeployment: &awscloudformation.CfnStackSet_AutoDeploymentProperty{
			Enabled:                      jsii.Bool(true),
			RetainStacksOnAccountRemoval: jsii.Bool(false),
		},
		Capabilities: jsii.Strings("CAPABILITY_NAMED_IAM"),
		// ManagedExecution is untyped JSON in the CloudFormation schema: the
		// jsii struct would be rendered with a lower-case "active".
		ManagedExecution: map[string]interface{}{"Active": true},
		OperationPreferences: &awscloudformation.CfnStackSet_OperationPreferencesProperty{
			FailureTolerancePercentage: jsii.Number(float64(ss.FailureTolerancePercentage)),
			MaxConcurrentPercentage:    jsii.Number(float64(ss.MaxConcurrentPercentage)),
			RegionConcurrencyType:      jsii.String("PARALLEL"),
		},
		Parameters: &[]interface{}{
			param(ParamHubRoleArn, e.Role.RoleArn()),
			param(ParamHubAccount, stack.Account()),
			param(ParamHubRegion, stack.Region()),
			// IAM is global: the first region's stack creates the role.
			param(ParamRoleRegion, jsii.String(h.Regions[0])),
		},
		StackInstancesGroup: &[]interface{}{&awscloudformation.CfnStackSet_StackInstancesProperty{
			DeploymentTargets: &awscloudformation.CfnStackSet_DeploymentTargetsProperty{
				OrganizationalUnitIds: jsii.Strings(ss.OrgUnits...),
			},
			Regions: jsii.Strings(h.Regions...),
		}},
		TemplateBody: jsii.String(body),
	})
}
