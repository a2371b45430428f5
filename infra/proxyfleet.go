package infra

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Files the ProxyFleet construct reads at synth time, relative to the
// repository root.
const (
	// ProxyInstallScriptFile is the install step of the SSM Command document.
	ProxyInstallScriptFile = "deploy/ssm/install.sh"
	// ProxyPackageDir is where make package writes the packages.
	ProxyPackageDir = "dist/package"
)

// ReadyTagKey is the instance tag the install step sets to "true" once the
// proxy answers its health check: the readiness signal enforcement gates on.
const ReadyTagKey = "elbguard:proxy-ready"

// ProxyFleetProps configures NewProxyFleet. The zero value targets instances
// tagged elbguard:proxy=managed, 10% at a time, stopping at the first
// failure, with the packages from dist/package (make package).
type ProxyFleetProps struct {
	// RepoRoot is the repository root (deploy/ssm/install.sh, dist/package).
	// Empty: the working directory.
	RepoRoot string
	// PackageDir holds one .deb and one .rpm for each of amd64 and arm64, as
	// make package writes them. Empty: RepoRoot/dist/package.
	PackageDir string
	// TargetTagKey and TargetTagValue select the instances (State Manager
	// applies the association to matching instances as they appear, Auto
	// Scaling's included). Empty: elbguard:proxy and managed.
	TargetTagKey, TargetTagValue string
	// MaxConcurrency is how many instances install at once, a count or a
	// percentage. Empty: 10%.
	MaxConcurrency string
	// MaxErrors is how many failed instances stop the rollout, a count or a
	// percentage. Empty: 1.
	MaxErrors string
	// ConfigParameter is the name of an SSM parameter (String or
	// SecureString) holding the whole proxy.yaml. Empty: instances keep their
	// config (the package's default on a first install).
	ConfigParameter string
	// HealthURL is the proxy's health endpoint on the instance. Empty:
	// http://127.0.0.1:9901/healthz (the admin listener of the default config).
	HealthURL string
	// Schedule re-applies the association, e.g. "rate(30 minutes)" (an
	// instance already at the version changes nothing). Empty: on creation,
	// on changes and on new instances only.
	Schedule string
	// InstanceRoles are the targeted instances' roles; each gets Policy.
	// Empty: attach Policy to them yourself.
	InstanceRoles []awsiam.IRole
}

var (
	ssmCountOrPercent = regexp.MustCompile(`^([1-9][0-9]*|[1-9][0-9]?%|100%)$`)
	ssmParameterName  = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]{1,1000}$`)
	localHealthURL    = regexp.MustCompile(`^http://(127\.0\.0\.1|localhost|\[::1\]):[0-9]{1,5}/[a-zA-Z0-9_.\-/]*$`)
)

func (p ProxyFleetProps) withDefaults() ProxyFleetProps {
	if p.RepoRoot == "" {
		p.RepoRoot = "."
	}
	if p.PackageDir == "" {
		p.PackageDir = filepath.Join(p.RepoRoot, ProxyPackageDir)
	}
	if p.TargetTagKey == "" {
		p.TargetTagKey = "elbguard:proxy"
	}
	if p.TargetTagValue == "" {
		p.TargetTagValue = "managed"
	}
	if p.MaxConcurrency == "" {
		p.MaxConcurrency = "10%"
	}
	if p.MaxErrors == "" {
		p.MaxErrors = "1"
	}
	if p.HealthURL == "" {
		p.HealthURL = "http://127.0.0.1:9901/healthz"
	}
	return p
}

// Validate reports the first invalid field (after defaults).
func (p ProxyFleetProps) Validate() error {
	p = p.withDefaults()
	switch {
	case !ssmCountOrPercent.MatchString(p.MaxConcurrency):
		return fmt.Errorf("ProxyFleetProps.MaxConcurrency %q: want a count (10) or a percentage (10%%)", p.MaxConcurrency)
	case p.MaxErrors != "0" && !ssmCountOrPercent.MatchString(p.MaxErrors):
		return fmt.Errorf("ProxyFleetProps.MaxErrors %q: want a count (1) or a percentage (5%%)", p.MaxErrors)
	case p.ConfigParameter != "" && !ssmParameterName.MatchString(p.ConfigParameter):
		return fmt.Errorf("ProxyFleetProps.ConfigParameter %q: want an SSM parameter name (letters, digits, _ . - /)", p.ConfigParameter)
	case !localHealthURL.MatchString(p.HealthURL):
		return fmt.Errorf("ProxyFleetProps.HealthURL %q: want http://127.0.0.1:PORT/PATH (the instance's own proxy)", p.HealthURL)
	case strings.ContainsAny(p.TargetTagKey+p.TargetTagValue, "\"'\n"):
		return fmt.Errorf("ProxyFleetProps.TargetTagKey/TargetTagValue: quotes and line breaks are not allowed")
	case p.Schedule != "" && !strings.HasPrefix(p.Schedule, "rate(") && !strings.HasPrefix(p.Schedule, "cron("):
		return fmt.Errorf("ProxyFleetProps.Schedule %q: want rate(...) or cron(...)", p.Schedule)
	}
	return nil
}

// ProxyFleet rolls elbguard-proxy out to instances with Systems Manager:
// the packages as S3 assets, a Command document that installs the right one
// (install.sh), and a State Manager association that runs it on every
// instance carrying the target tag, MaxConcurrency at a time, stopping after
// MaxErrors failures.
type ProxyFleet struct {
	constructs.Construct
	Props ProxyFleetProps
	// Packages are the package assets by "deb/amd64", "rpm/arm64", ...
	Packages map[string]awss3assets.Asset
	// Document is the SSM Command document (aws:runShellScript).
	Document awsssm.CfnDocument
	// Association applies Document to the targeted instances.
	Association awsssm.CfnAssociation
	// Policy is what an instance needs: read the packages and the config
	// parameter, and tag itself (only itself) ready.
	Policy awsiam.ManagedPolicy
}

// NewProxyFleet adds the rollout to scope.
func NewProxyFleet(scope constructs.Construct, id string, props *ProxyFleetProps) (*ProxyFleet, error) {
	var p ProxyFleetProps
	if props != nil {
		p = *props
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	script, err := os.ReadFile(filepath.Join(p.RepoRoot, ProxyInstallScriptFile))
	if err != nil {
		return nil, fmt.Errorf("proxy fleet %s: read install script: %w", id, err)
	}
	pkgs, err := findPackages(p.PackageDir)
	if err != nil {
		return nil, fmt.Errorf("proxy fleet %s: %w", id, err)
	}

	c := constructs.NewConstruct(scope, jsii.String(id))
	f := &ProxyFleet{Construct: c, Props: p, Packages: map[string]awss3assets.Asset{}}
	stack := awscdk.Stack_Of(c)

	keys := make([]string, 0, len(pkgs))
	for k := range pkgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := []string{}
	var objects []*string
	for _, k := range keys {
		a := awss3assets.NewAsset(c, jsii.String("Package-"+strings.ReplaceAll(k, "/", "-")), &awss3assets.AssetProps{
			Path: jsii.String(pkgs[k]),
		})
		f.Packages[k] = a
		objects = append(objects, a.Bucket().ArnForObjects(a.S3ObjectKey()))
		format, arch, _ := strings.Cut(k, "/")
		env = append(env, fmt.Sprintf("export ELBGUARD_PKG_%s_%s=%s", strings.ToUpper(format), strings.ToUpper(arch), *a.S3ObjectUrl()))
	}

	run := append([]string{
		"export ELBGUARD_CONFIG_PARAMETER='{{ConfigParameter}}'",
		"export ELBGUARD_HEALTH_URL='{{HealthUrl}}'",
		"export ELBGUARD_READY_TAG='" + ReadyTagKey + "'",
	}, env...)
	run = append(run, strings.Split(strings.TrimRight(string(script), "\n"), "\n")...)
	content := map[string]any{
		"schemaVersion": "2.2",
		"description": "Install or upgrade elbguard-proxy from its .deb/.rpm (architecture and format picked on the instance), " +
			"write its config from an SSM parameter, check its health, then tag the instance " + ReadyTagKey + " with the ports that read the PROXY header.",
		"parameters": map[string]any{
			"ConfigParameter": map[string]any{
				"type":           "String",
				"default":        p.ConfigParameter,
				"description":    "SSM parameter holding proxy.yaml; empty keeps the instance's config.",
				"allowedPattern": `^[a-zA-Z0-9_.\-/]*$`,
			},
			"HealthUrl": map[string]any{
				"type":           "String",
				"default":        p.HealthURL,
				"description":    "The proxy's health endpoint on the instance.",
				"allowedPattern": localHealthURL.String(),
			},
		},
		"mainSteps": []any{map[string]any{
			"action":       "aws:runShellScript",
			"name":         "InstallElbguardProxy",
			"precondition": map[string]any{"StringEquals": []string{"platformType", "Linux"}},
			"inputs": map[string]any{
				"timeoutSeconds": "900",
				"runCommand":     run,
			},
		}},
	}
	f.Document = awsssm.NewCfnDocument(c, jsii.String("Document"), &awsssm.CfnDocumentProps{
		DocumentType:   jsii.String("Command"),
		DocumentFormat: jsii.String("JSON"),
		Content:        content,
		UpdateMethod:   jsii.String("NewVersion"),
	})
	assoc := &awsssm.CfnAssociationProps{
		Name:            f.Document.Ref(),
		DocumentVersion: jsii.String("$LATEST"),
		AssociationName: jsii.String(*stack.StackName() + "-" + id),
		Targets: &[]*awsssm.CfnAssociation_TargetProperty{{
			Key:    jsii.String("tag:" + p.TargetTagKey),
			Values: jsii.Strings(p.TargetTagValue),
		}},
		MaxConcurrency:     jsii.String(p.MaxConcurrency),
		MaxErrors:          jsii.String(p.MaxErrors),
		ComplianceSeverity: jsii.String("HIGH"),
	}
	if p.Schedule != "" {
		assoc.ScheduleExpression = jsii.String(p.Schedule)
	}
	f.Association = awsssm.NewCfnAssociation(c, jsii.String("Association"), assoc)

	statements := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadProxyPackages"),
			Actions:   jsii.Strings("s3:GetObject"),
			Resources: &objects,
		}),
		// An instance may set the readiness tag on itself and on nothing
		// else: the instance being tagged (aws:ARN, the target resource's
		// ARN for EC2 actions) must be the instance whose role credentials
		// sign the request (ec2:SourceInstanceARN, as an IAM policy
		// variable); only the ready tag. Its value is the proxy's ports
		// ("80,81", which IAM cannot pattern-match): an instance can only
		// mislabel itself, and the enforcer parses the value strictly.
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("TagOwnInstanceReady"),
			Actions:   jsii.Strings("ec2:CreateTags"),
			Resources: jsii.Strings(fmt.Sprintf("arn:%s:ec2:%s:%s:instance/*", *stack.Partition(), *stack.Region(), *stack.Account())),
			Conditions: &map[string]any{
				"StringEquals":              map[string]any{"aws:ARN": "${ec2:SourceInstanceARN}"},
				"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []string{ReadyTagKey}},
			},
		}),
	}
	if p.ConfigParameter != "" {
		name := strings.TrimPrefix(p.ConfigParameter, "/")
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadProxyConfig"),
			Actions:   jsii.Strings("ssm:GetParameter"),
			Resources: jsii.Strings(fmt.Sprintf("arn:%s:ssm:%s:%s:parameter/%s", *stack.Partition(), *stack.Region(), *stack.Account(), name)),
		}))
	}
	f.Policy = awsiam.NewManagedPolicy(c, jsii.String("InstancePolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("elbguard-proxy fleet instances: read the packages and config, tag themselves " + ReadyTagKey),
		Statements:  &statements,
	})
	suppress(f.Policy, false, suppression{
		id: "AwsSolutions-IAM5",
		reason: "The fleet's instances are not known at synth time (State Manager targets them by tag, Auto Scaling adds more); " +
			"the condition aws:ARN = ${ec2:SourceInstanceARN} narrows the instance wildcard to the caller's own instance, and only the readiness tag may be set.",
		appliesTo: []string{"Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*"},
	})
	for _, r := range p.InstanceRoles {
		f.Policy.AttachToRole(r) // works for imported roles too (AddManagedPolicy on one is a no-op)
	}
	return f, nil
}

// findPackages returns the one .deb and one .rpm per architecture in dir,
// by "deb/amd64", "deb/arm64", "rpm/amd64", "rpm/arm64".
func findPackages(dir string) (map[string]string, error) {
	patterns := map[string]string{
		"deb/amd64": "elbguard-proxy_*_amd64.deb",
		"deb/arm64": "elbguard-proxy_*_arm64.deb",
		"rpm/amd64": "elbguard-proxy-*.x86_64.rpm",
		"rpm/arm64": "elbguard-proxy-*.aarch64.rpm",
	}
	out := map[string]string{}
	for k, pat := range patterns {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, fmt.Errorf("find %s: %w", pat, err)
		}
		if len(m) != 1 {
			return nil, fmt.Errorf("packages in %s: want exactly one %s, found %d (run make package; clean out old versions)", dir, pat, len(m))
		}
		out[k] = m[0]
	}
	return out, nil
}
