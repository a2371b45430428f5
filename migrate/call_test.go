package migrate

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func TestCallResolved(t *testing.T) {
	c := newCall("elbv2:CreateListener", "listener-80", &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(ref("nlb")), Port: aws.Int32(80), Protocol: v2types.ProtocolEnumTcp,
		DefaultActions: []v2types.Action{{Type: v2types.ActionTypeEnumForward, TargetGroupArn: aws.String(ref("tg-80"))}},
	})
	if got, want := string(c.Params), `{"DefaultActions":[{"TargetGroupArn":"${tg-80}","Type":"forward"}],"LoadBalancerArn":"${nlb}","Port":80,"Protocol":"TCP"}`; got != want {
		t.Errorf("params: got %s; want %s", got, want)
	}
	tests := []struct {
		name    string
		refs    map[string]string
		wantErr string
	}{
		{"all known", map[string]string{"nlb": "arn:lb", "tg-80": "arn:tg"}, ""},
		{"a reference no call returned", map[string]string{"nlb": "arn:lb"}, "[tg-80]"},
		{"an ARN with JSON metacharacters stays one string", map[string]string{"nlb": `arn:\\"x"`, "tg-80": "arn:tg"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.resolved(tt.refs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v; want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in := got.(*elbv2.CreateListenerInput)
			if aws.ToString(in.LoadBalancerArn) != tt.refs["nlb"] || aws.ToString(in.DefaultActions[0].TargetGroupArn) != tt.refs["tg-80"] || aws.ToInt32(in.Port) != 80 {
				t.Errorf("got %+v; want the ARNs filled in, the rest unchanged", in)
			}
			if !strings.Contains(string(c.Params), "${nlb}") {
				t.Errorf("resolving changed the plan: %s", c.Params)
			}
		})
	}
}
