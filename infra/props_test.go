package infra

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/elbguard/elbguard/engine"
)

func TestEnforcerPropsValidate(t *testing.T) {
	tests := []struct {
		name    string
		props   EnforcerProps
		wantErr string // substring; empty means valid
	}{
		{name: "zero value", props: EnforcerProps{}},
		{name: "all set", props: EnforcerProps{TagKey: "team/elb:pp", DefaultMode: "ENFORCE", DryRun: true,
			SweepSchedule: "rate(15 minutes)", Concurrency: 64, ReservedConcurrency: -1, CreateTrail: true,
			AlarmEmail: "ops@example.com", LambdaAssetDir: "build/lambda"}},
		{name: "cron schedule", props: EnforcerProps{SweepSchedule: "cron(0 * * * ? *)"}},
		{name: "rate of one day", props: EnforcerProps{SweepSchedule: "rate(1 day)"}},
		{name: "aws tag prefix", props: EnforcerProps{TagKey: "aws:elbguard"}, wantErr: "TagKey"},
		{name: "tag key too long", props: EnforcerProps{TagKey: strings.Repeat("k", 129)}, wantErr: "TagKey"},
		{name: "tag key bad char", props: EnforcerProps{TagKey: "a*b"}, wantErr: "TagKey"},
		{name: "unknown mode", props: EnforcerProps{DefaultMode: "strict"}, wantErr: "DefaultMode \"strict\": allowed values are off, audit, enforce"},
		{name: "plural for one", props: EnforcerProps{SweepSchedule: "rate(1 hours)"}, wantErr: "SweepSchedule"},
		{name: "singular for many", props: EnforcerProps{SweepSchedule: "rate(5 minute)"}, wantErr: "SweepSchedule"},
		{name: "zero rate", props: EnforcerProps{SweepSchedule: "rate(0 minutes)"}, wantErr: "SweepSchedule"},
		{name: "not a schedule", props: EnforcerProps{SweepSchedule: "hourly"}, wantErr: "SweepSchedule"},
		{name: "cron with five fields", props: EnforcerProps{SweepSchedule: "cron(0 * * * ?)"}, wantErr: "SweepSchedule"},
		{name: "concurrency too high", props: EnforcerProps{Concurrency: 65}, wantErr: "Concurrency 65: allowed values are 1-64"},
		{name: "concurrency negative", props: EnforcerProps{Concurrency: -1}, wantErr: "Concurrency"},
		{name: "max changes negative", props: EnforcerProps{MaxChanges: -1}, wantErr: "MaxChanges -1: allowed values are 1-100000"},
		{name: "max errors too high", props: EnforcerProps{MaxErrors: 100001}, wantErr: "MaxErrors 100001"},
		{name: "reserved too high", props: EnforcerProps{ReservedConcurrency: 1001}, wantErr: "ReservedConcurrency"},
		{name: "email with name", props: EnforcerProps{AlarmEmail: "Ops <ops@example.com>"}, wantErr: "AlarmEmail"},
		{name: "not an email", props: EnforcerProps{AlarmEmail: "ops"}, wantErr: "AlarmEmail"},
		{name: "asset dir root", props: EnforcerProps{LambdaAssetDir: "/"}, wantErr: "LambdaAssetDir"},
		{name: "verify window max", props: EnforcerProps{VerifyWindowSeconds: 900}},
		{name: "verify window over SQS's delay", props: EnforcerProps{VerifyWindowSeconds: 901}, wantErr: "VerifyWindowSeconds 901: allowed values are 1-900"},
		{name: "verify window negative", props: EnforcerProps{VerifyWindowSeconds: -5}, wantErr: "VerifyWindowSeconds"},
		{name: "IaC owner tags", props: EnforcerProps{IaCTags: []string{"ManagedBy=terraform", "crossplane.io/claim-name"}}},
		{name: "IaC owner tag without value", props: EnforcerProps{IaCTags: []string{"ManagedBy="}}, wantErr: `IaCTags ["ManagedBy="]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.props.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v; want an error containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidProps) {
				t.Errorf("errors.Is(%v, ErrInvalidProps) = false; want true", err)
			}
		})
	}
}

func TestEnforcerPropsDefaults(t *testing.T) {
	got := EnforcerProps{DefaultMode: "Audit"}.withDefaults()
	want := EnforcerProps{TagKey: DefaultTagKey, DefaultMode: "audit", SweepSchedule: DefaultSweepSchedule,
		Concurrency: DefaultConcurrency, ReservedConcurrency: DefaultReservedConcurrency, LambdaAssetDir: DefaultLambdaAssetDir,
		VerifyWindowSeconds: DefaultVerifyWindowSeconds, MaxChanges: engine.DefaultMaxChanges, MaxErrors: engine.DefaultMaxErrors}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("withDefaults() = %+v; want %+v", got, want)
	}
}

func TestEdgeDemoPropsValidate(t *testing.T) {
	tests := []struct {
		name    string
		props   EdgeDemoProps
		wantErr string
	}{
		{name: "zero value", props: EdgeDemoProps{}},
		{name: "nlb with acm certificate", props: EdgeDemoProps{LoadBalancer: "NLB",
			CertificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab", InstanceType: "c7gn.large"}},
		{name: "iam server certificate", props: EdgeDemoProps{CertificateArn: "arn:aws:iam::123456789012:server-certificate/demo"}},
		{name: "alb is not offered", props: EdgeDemoProps{LoadBalancer: "alb"}, wantErr: "LoadBalancer \"alb\": allowed values are classic, nlb"},
		{name: "certificate not an arn", props: EdgeDemoProps{CertificateArn: "my-cert"}, wantErr: "CertificateArn"},
		{name: "x86 instance", props: EdgeDemoProps{InstanceType: "t3.micro"}, wantErr: "InstanceType \"t3.micro\": want a Graviton"},
		{name: "bad tag key", props: EdgeDemoProps{TagKey: "aws:x"}, wantErr: "TagKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.props.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidProps) {
				t.Fatalf("Validate() = %v; want an ErrInvalidProps error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigFromContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     map[string]any
		want    Config
		wantErr string
	}{
		{name: "empty", ctx: nil, want: Config{}},
		{
			name: "strings from -c",
			ctx: map[string]any{"tagKey": "pp", "defaultMode": "enforce", "dryRun": "true", "sweepSchedule": "rate(2 hours)",
				"concurrency": "4", "reservedConcurrency": "-1", "maxChanges": "25", "maxErrors": "2", "createTrail": "TRUE", "alarmEmail": " ops@example.com ",
				"demo": "true", "lb": "nlb", "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x", "instanceType": "m7g.medium", "verifyWindow": "120"},
			want: Config{
				Enforcer: EnforcerProps{TagKey: "pp", DefaultMode: "enforce", DryRun: true, SweepSchedule: "rate(2 hours)",
					Concurrency: 4, ReservedConcurrency: -1, MaxChanges: 25, MaxErrors: 2, CreateTrail: true, AlarmEmail: "ops@example.com", VerifyWindowSeconds: 120},
				Demo: true,
				Edge: EdgeDemoProps{LoadBalancer: "nlb", CertificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/x", InstanceType: "m7g.medium"},
			},
		},
		{
			name: "json types from cdk.json",
			ctx:  map[string]any{"dryRun": false, "demo": true, "concurrency": float64(16)},
			want: Config{Enforcer: EnforcerProps{Concurrency: 16}, Demo: true},
		},
		{
			name: "IaC owner tags, -c and cdk.json",
			ctx:  map[string]any{"iacTags": "ManagedBy=terraform, crossplane.io/claim-name"},
			want: Config{Enforcer: EnforcerProps{IaCTags: []string{"ManagedBy=terraform", "crossplane.io/claim-name"}}},
		},
		{
			name: "IaC owner tags as a JSON array",
			ctx:  map[string]any{"iacTags": []any{"pulumi:project"}},
			want: Config{Enforcer: EnforcerProps{IaCTags: []string{"pulumi:project"}}},
		},
		{name: "bad bool", ctx: map[string]any{"demo": "yes please"}, wantErr: "context demo=yes please: want true or false"},
		{name: "bad int", ctx: map[string]any{"concurrency": "eight"}, wantErr: "context concurrency=eight: want an integer"},
		{name: "fraction", ctx: map[string]any{"concurrency": 2.5}, wantErr: "context concurrency=2.5: want an integer"},
		{name: "number for string", ctx: map[string]any{"tagKey": float64(3)}, wantErr: "context tagKey=3: want a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromContext(func(k string) any { return tt.ctx[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidProps) {
					t.Fatalf("ConfigFromContext() error = %v; want an ErrInvalidProps error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromContext() error = %v; want nil", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ConfigFromContext() = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func ExampleEnforcerProps_Validate() {
	err := EnforcerProps{DefaultMode: "strict"}.Validate()
	fmt.Println(err)
	// Output: infra: invalid props: DefaultMode "strict": allowed values are off, audit, enforce
}

func ExampleConfigFromContext() {
	ctx := map[string]any{"defaultMode": "enforce", "demo": "true", "lb": "nlb"}
	cfg, err := ConfigFromContext(func(key string) any { return ctx[key] })
	fmt.Println(cfg.Enforcer.DefaultMode, cfg.Demo, cfg.Edge.LoadBalancer, err)
	// Output: enforce true nlb <nil>
}
