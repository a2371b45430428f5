package demo

import (
	"strings"
	"testing"
)

func goodState() *State {
	return &State{
		Classic: map[string]ClassicState{
			ClassicName: {Listeners: wantClassic, ProxyPorts: []int32{80, 81},
				BackendLines: []string{"instance port 80: p", "instance port 81: p"}},
			LegacyName: {Listeners: wantLegacy},
		},
		TargetGroupProxyV2: map[string]bool{TargetGroup: true},
		NLBListeners:       map[string][]string{NLBName: {"TCP:80"}},
	}
}

func TestStateCheck(t *testing.T) {
	tests := []struct {
		name   string
		change func(*State)
		want   []string // substrings of the error; none: no error
	}{
		{"fixed", func(*State) {}, nil},
		{"tagged classic still HTTP", func(s *State) {
			c := s.Classic[ClassicName]
			c.Listeners = wantLegacy
			s.Classic[ClassicName] = c
		}, []string{"web-classic listeners"}},
		{"proxy protocol on one port only", func(s *State) {
			c := s.Classic[ClassicName]
			c.ProxyPorts = []int32{80}
			s.Classic[ClassicName] = c
		}, []string{"instance ports [80]; want [80 81]"}},
		{"untagged touched", func(s *State) {
			s.Classic[LegacyName] = ClassicState{Listeners: wantClassic, BackendLines: []string{"instance port 80: p"}}
		}, []string{"web-legacy (untagged) listeners", "web-legacy (untagged) has backend policies"}},
		{"target group not fixed", func(s *State) { s.TargetGroupProxyV2[TargetGroup] = false }, []string{"proxy_protocol_v2.enabled false"}},
		{"target group absent", func(s *State) { delete(s.TargetGroupProxyV2, TargetGroup) }, []string{"proxy_protocol_v2.enabled false"}},
		{"NLB listener changed", func(s *State) { s.NLBListeners[NLBName] = []string{"TLS:443"} }, []string{"edge-nlb listeners"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := goodState()
			tt.change(s)
			err := s.Check()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("got %v; want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error; want one mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q; want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestAuditStatuses(t *testing.T) {
	for _, data := range []string{
		`{"reports":[{"name":"web-classic","type":"classic","mode":"enforce","status":"non_compliant"}]}`,
		`{"result":{"reports":[{"name":"web-classic","type":"classic","mode":"enforce","status":"non_compliant"}]}}`,
	} {
		got, err := auditStatuses([]byte(data))
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if got[ClassicName] != "non_compliant" {
			t.Errorf("%s: got %q; want non_compliant", data, got[ClassicName])
		}
	}
	if _, err := auditStatuses([]byte("not json")); err == nil {
		t.Error("got no error for invalid JSON; want one")
	}
}

func TestStateCheckGated(t *testing.T) {
	const id = "i-0123456789abcdef0"
	held := ClassicState{Listeners: wantLegacy, Instances: []string{id}}
	enforced := ClassicState{Listeners: wantClassic, Instances: []string{id}, ProxyPorts: []int32{80, 81},
		BackendLines: []string{"instance port 80: p", "instance port 81: p"}}
	tests := []struct {
		name     string
		gated    *ClassicState // nil: absent
		enforced bool
		want     []string // substrings of the error; none: no error
	}{
		{"held and unchanged", &held, false, nil},
		{"enforced once ready", &enforced, true, nil},
		{"absent", nil, false, []string{"web-gated is not in the emulator"}},
		{"changed although held", &enforced, false, []string{"want them held: unchanged", "proxy protocol on instance ports [80 81]", "backend policies"}},
		{"not enforced once ready", &held, true, []string{"want them enforced", "want [80 81] (enforced)"}},
		{"instance not registered", &ClassicState{Listeners: wantLegacy}, false, []string{"want " + id + " registered"}},
		{"backend policy without proxy protocol while held", &ClassicState{Listeners: wantLegacy, Instances: []string{id},
			BackendLines: []string{"instance port 80: other"}}, false, []string{"backend policies"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := goodState()
			if tt.gated != nil {
				s.Classic[GatedName] = *tt.gated
			}
			err := s.CheckGated(id, tt.enforced)
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("got %v; want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error; want one mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q; want it to mention %q", err, w)
				}
			}
		})
	}
}
