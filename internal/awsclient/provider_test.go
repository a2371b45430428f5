package awsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestValidLocation(t *testing.T) {
	tests := []struct {
		name  string
		valid func(string) bool
		in    string
		want  bool
	}{
		{"account", ValidAccount, "123456789012", true},
		{"account short", ValidAccount, "12345", false},
		{"account letters", ValidAccount, "12345678901a", false},
		{"account path", ValidAccount, "123456789012/..", false},
		{"account empty", ValidAccount, "", false},
		{"region", ValidRegion, "us-east-1", true},
		{"region gov", ValidRegion, "us-gov-west-1", true},
		{"region cn", ValidRegion, "cn-northwest-1", true},
		{"region three parts", ValidRegion, "ap-southeast-5", true},
		{"region upper", ValidRegion, "US-EAST-1", false},
		{"region injected", ValidRegion, "us-east-1; rm", false},
		{"region host", ValidRegion, "us-east-1.evil.com", false},
		{"region empty", ValidRegion, "", false},
		{"role", ValidRoleName, "elbguard-spoke", true},
		{"role chars", ValidRoleName, "a+=,.@_-b", true},
		{"role slash", ValidRoleName, "path/role", false},
		{"role long", ValidRoleName, strings.Repeat("r", 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.valid(tt.in); got != tt.want {
				t.Errorf("%q: got %v; want %v", tt.in, got, tt.want)
			}
		})
	}
}

// stsServer answers AssumeRole (denied for deny) and GetCallerIdentity,
// counting requests by action.
type stsServer struct {
	deny  string
	mu    sync.Mutex
	calls map[string]int
}

func (s *stsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form := string(body)
	s.mu.Lock()
	action := ""
	for _, a := range []string{"AssumeRole", "GetCallerIdentity"} {
		if strings.Contains(form, "Action="+a) {
			action = a
		}
	}
	s.calls[action]++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	switch {
	case action == "AssumeRole" && s.deny != "" && strings.Contains(form, s.deny):
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform: sts:AssumeRole</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
	case action == "AssumeRole":
		exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		fmt.Fprintf(w, `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIATEST</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>%s</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::111111111111:assumed-role/elbguard-spoke/elbguard</Arn><AssumedRoleId>AROA:elbguard</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`, exp)
	default:
		fmt.Fprint(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws-cn:sts::999999999999:assumed-role/hub/x</Arn><UserId>AROA:x</UserId><Account>999999999999</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	}
}

func (s *stsServer) count(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

func newTestProvider(t *testing.T, deny string, home string) (*Provider, *stsServer) {
	t.Helper()
	s := &stsServer{deny: deny, calls: map[string]int{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	base := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}}
	p, err := NewProvider(base, ProviderConfig{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	return p, s
}

// TestProviderAssumesOncePerAccount checks that a spoke's role is assumed
// once for all its regions, the home account never, malformed locations
// before any call, and a denied role with ErrAssumeRole.
func TestProviderAssumesOncePerAccount(t *testing.T) {
	p, s := newTestProvider(t, "222222222222", "")
	ctx := context.Background()
	home, err := p.Home(ctx)
	if err != nil || home != "999999999999" || p.RoleARN("111111111111") != "arn:aws-cn:iam::111111111111:role/elbguard-spoke" {
		t.Fatalf("home %q, %v, role %s; want 999999999999 in partition aws-cn", home, err, p.RoleARN("111111111111"))
	}
	for _, region := range []string{"us-east-1", "eu-west-1", "us-east-1"} {
		c, err := p.Clients(ctx, "111111111111", region)
		if err != nil || c.Account != "111111111111" || c.Region() != region {
			t.Fatalf("spoke in %s: got %+v, %v", region, c, err)
		}
		if _, err := p.Clients(ctx, home, region); err != nil {
			t.Fatalf("home in %s: %v", region, err)
		}
	}
	if n := s.count("AssumeRole"); n != 1 {
		t.Errorf("got %d AssumeRole for one spoke in two regions; want 1", n)
	}
	a, _ := p.Clients(ctx, "111111111111", "eu-west-1")
	b, _ := p.Clients(ctx, "111111111111", "eu-west-1")
	if a != b {
		t.Errorf("clients of one account and region built twice")
	}
	_, err = p.Clients(ctx, "222222222222", "us-east-1")
	if !errors.Is(err, ErrAssumeRole) || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("denied spoke: got %v; want ErrAssumeRole with AccessDenied", err)
	}
	before := s.count("AssumeRole")
	for _, bad := range [][2]string{{"12345", "us-east-1"}, {"111111111111", "moon-1"}, {"", ""}} {
		if _, err := p.Clients(ctx, bad[0], bad[1]); !errors.Is(err, ErrLocation) {
			t.Errorf("%q: got %v; want ErrLocation", bad, err)
		}
	}
	if n := s.count("AssumeRole") - before; n != 0 {
		t.Errorf("malformed locations made %d AssumeRole; want none", n)
	}
}

func TestNewProviderRejects(t *testing.T) {
	for _, cfg := range []ProviderConfig{{RoleName: "a/b"}, {Home: "1"}, {Limits: Limits{Describe: -1}}, {Limits: Limits{Mutate: MaxRate + 1}}, {Limits: Limits{MutateBurst: 41}}} {
		if _, err := NewProvider(aws.Config{Region: "us-east-1"}, cfg); err == nil {
			t.Errorf("%+v: got nil; want an error", cfg)
		}
	}
}
