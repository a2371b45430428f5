package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// A port must never stay dark. When a listener swap deletes a listener and
// then neither its replacement nor the original can be created, the original
// listener's full description is written to a tag on the load balancer
// itself (elbguard:restore:PORT), where it survives the invocation and a
// person can read it. Every later run, event or sweep, restores it first,
// exactly (protocols, ports, certificate, policies), then removes the tag.
//
// The tag value is compact and strict, within AWS's tag value rules (at most
// 256 characters of letters, digits, spaces and _ . : / = + - @):
//
//	v1 HTTPS:443 HTTP:81 cert=arn:aws:iam::123456789012:server-certificate/web pol=tls-2017+sticky
//
// Five fields separated by single spaces: the version, the front-end
// protocol and port, the instance protocol and port, the certificate ARN
// (empty for HTTP and TCP) and the listener's policy names joined by '+'.

// classicTagAPI is the Classic tagging the restore tag needs
// (*elasticloadbalancing.Client has it; the engine finds it on its client).
type classicTagAPI interface {
	AddTags(ctx context.Context, in *elb.AddTagsInput, optFns ...func(*elb.Options)) (*elb.AddTagsOutput, error)
	RemoveTags(ctx context.Context, in *elb.RemoveTagsInput, optFns ...func(*elb.Options)) (*elb.RemoveTagsOutput, error)
}

var _ classicTagAPI = (*elb.Client)(nil)

const (
	restoreVersion  = "v1"
	maxTagValue     = 256
	restoreCertKey  = "cert="
	restorePolicies = "pol="
)

// ErrRestoreTag is wrapped by every restore tag parse and encode error.
var ErrRestoreTag = errors.New("enforce: invalid restore tag")

// EncodeRestore renders a Classic listener as its restore tag. It fails when
// the listener cannot be kept within AWS's tag rules (then a person must
// restore it from the report).
func EncodeRestore(ld elbtypes.ListenerDescription) (key, value string, err error) {
	l := ld.Listener
	if l == nil {
		return "", "", fmt.Errorf("%w: no listener", ErrRestoreTag)
	}
	front, inst := strings.ToUpper(aws.ToString(l.Protocol)), instanceProtocol(l)
	cert := aws.ToString(l.SSLCertificateId)
	for _, p := range ld.PolicyNames {
		if !restoreToken(p, false) || p == "" {
			return "", "", fmt.Errorf("%w: policy name %q cannot be kept in a tag", ErrRestoreTag, p)
		}
	}
	value = fmt.Sprintf("%s %s:%d %s:%d %s%s %s%s", restoreVersion, front, l.LoadBalancerPort, inst, aws.ToInt32(l.InstancePort),
		restoreCertKey, cert, restorePolicies, strings.Join(ld.PolicyNames, "+"))
	key = TagRestorePrefix + strconv.Itoa(int(l.LoadBalancerPort))
	back, err := ParseRestore(key, value)
	if err != nil {
		return "", "", err
	}
	if !sameListener(*back.Listener, *l) || !slices.Equal(nonNil(back.PolicyNames), nonNil(ld.PolicyNames)) {
		return "", "", fmt.Errorf("%w: listener %d does not survive the round trip", ErrRestoreTag, l.LoadBalancerPort)
	}
	return key, value, nil
}

// ParseRestore parses a restore tag strictly: the key's port must be the
// listener's, every field must be present once and well formed.
func ParseRestore(key, value string) (elbtypes.ListenerDescription, error) {
	bad := func(format string, args ...any) (elbtypes.ListenerDescription, error) {
		return elbtypes.ListenerDescription{}, fmt.Errorf("%w: %s", ErrRestoreTag, fmt.Sprintf(format, args...))
	}
	keyPort, ok := strings.CutPrefix(key, TagRestorePrefix)
	if !ok {
		return bad("key %q does not start with %s", key, TagRestorePrefix)
	}
	port, err := parsePort(keyPort)
	if err != nil {
		return bad("key %q: %v", key, err)
	}
	if len(value) > maxTagValue {
		return bad("value is %d bytes; at most %d", len(value), maxTagValue)
	}
	f := strings.Split(value, " ")
	if len(f) != 5 || f[0] != restoreVersion {
		return bad("want %q and four fields separated by single spaces", restoreVersion+" FRONT:PORT INSTANCE:PORT cert=ARN pol=A+B")
	}
	front, fport, err := parseProtoPort(f[1])
	if err != nil {
		return bad("front end %q: %v", f[1], err)
	}
	inst, iport, err := parseProtoPort(f[2])
	if err != nil {
		return bad("instance %q: %v", f[2], err)
	}
	if fport != port {
		return bad("front-end port %d is not the key's port %d", fport, port)
	}
	if isHTTP(front) != isHTTP(inst) {
		return bad("%s front end with %s instance protocol: AWS needs both HTTP/HTTPS or both TCP/SSL", front, inst)
	}
	cert, ok := strings.CutPrefix(f[3], restoreCertKey)
	if !ok || !restoreToken(cert, true) {
		return bad("certificate field %q", f[3])
	}
	if needsCert := front == "HTTPS" || front == "SSL"; needsCert != (cert != "") || (needsCert && !strings.HasPrefix(cert, "arn:")) {
		return bad("%s front end with certificate %q", front, cert)
	}
	pols, ok := strings.CutPrefix(f[4], restorePolicies)
	if !ok {
		return bad("policies field %q", f[4])
	}
	var names []string
	if pols != "" {
		names = strings.Split(pols, "+")
		for _, n := range names {
			if n == "" || !restoreToken(n, false) {
				return bad("policy name %q", n)
			}
		}
	}
	l := &elbtypes.Listener{Protocol: aws.String(front), LoadBalancerPort: port, InstanceProtocol: aws.String(inst), InstancePort: aws.Int32(iport)}
	if cert != "" {
		l.SSLCertificateId = aws.String(cert)
	}
	return elbtypes.ListenerDescription{Listener: l, PolicyNames: names}, nil
}

func parseProtoPort(s string) (string, int32, error) {
	proto, port, ok := strings.Cut(s, ":")
	if !ok {
		return "", 0, fmt.Errorf("want PROTOCOL:PORT")
	}
	switch proto {
	case "HTTP", "HTTPS", "TCP", "SSL":
	default:
		return "", 0, fmt.Errorf("protocol %q; want HTTP, HTTPS, TCP or SSL", proto)
	}
	n, err := parsePort(port)
	return proto, n, err
}

// parsePort parses 1 to 65535 in canonical decimal.
func parsePort(s string) (int32, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("%q is not a port from 1 to 65535", s)
	}
	return int32(n), nil
}

// restoreToken reports whether s is made of AWS tag value characters other
// than the separators (space, and '+' outside the certificate).
func restoreToken(s string, plusOK bool) bool {
	for _, c := range s {
		switch {
		case c == '+':
			if !plusOK {
				return false
			}
		case unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("_.:/=-@", c):
		default:
			return false
		}
	}
	return true
}

// keepForRestore writes the restore tag after a listener could not be put
// back, so that the next run restores it; it always reports the listener's
// full description, so that a person can restore it when the tag cannot be
// written either.
func (e *Engine) keepForRestore(ctx context.Context, r *Report, name string, orig elbtypes.ListenerDescription) {
	port := orig.Listener.LoadBalancerPort
	desc := describeListener(orig)
	key, value, err := EncodeRestore(orig)
	if err != nil {
		r.find(RuleListenerRestore, "listener %d (%s) is gone and cannot be kept in a tag (%v): recreate it by hand", port, desc, err)
		return
	}
	tagger, ok := e.classic.(classicTagAPI)
	if !ok {
		r.find(RuleListenerRestore, "listener %d (%s) is gone and the client cannot tag: recreate it by hand", port, desc)
		return
	}
	_, err = tagger.AddTags(ctx, &elb.AddTagsInput{LoadBalancerNames: []string{name},
		Tags: []elbtypes.Tag{{Key: aws.String(key), Value: aws.String(value)}}}, swapRetryer)
	if !r.record("AddTags", name+"/"+key, err) {
		r.find(RuleListenerRestore, "listener %d (%s) is gone and the tag %s could not be written (%v): recreate it by hand", port, desc, key, err)
		return
	}
	r.find(RuleListenerRestore, "listener %d (%s) is gone; kept in tag %s=%q: every later run restores it before anything else", port, desc, key, value)
}

// restoreListeners puts back the listeners kept in restore tags, before
// anything else (they undo elbguard's own unfinished change). It writes only
// in enforce mode; in any other mode a restore tag is an error for a person
// to act on. done is true when the run must stop here: a restore was made,
// planned (dry run) or failed, a restore tag is malformed, or the mode is
// not enforce. A tag whose port already has a listener is removed, and the
// run goes on.
func (e *Engine) restoreListeners(ctx context.Context, r *Report, lb *elbtypes.LoadBalancerDescription, tags map[string]string) (done bool) {
	var keys []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if strings.HasPrefix(k, TagRestorePrefix) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return false
	}
	name := aws.ToString(lb.LoadBalancerName)
	want := make([]elbtypes.ListenerDescription, len(keys))
	for i, k := range keys {
		ld, err := ParseRestore(k, tags[k])
		if err != nil {
			r.Status = StatusError
			r.find(RuleInvalidTag, "invalid tag value %q for %s: %v; nothing is changed until it is corrected (or the listener restored by hand and the tag removed)", tags[k], k, err)
			return true
		}
		want[i] = ld
	}
	if r.Mode != ModeEnforce {
		// Off and audit never write (and the enforcer's IAM policy allows
		// load balancer writes only where the mode is enforce).
		r.Status = StatusError
		for i, k := range keys {
			r.find(RuleListenerRestore, "listener %d (%s) is kept in tag %s to be restored, but the mode is %q: elbguard restores it only in enforce mode. Recreate it by hand and remove the tag, or set %s=enforce",
				want[i].Listener.LoadBalancerPort, describeListener(want[i]), k, r.Mode, e.cfg.TagKey)
		}
		return true
	}
	tagger, canTag := e.classic.(classicTagAPI)
	restored, failed := 0, false
	for i, k := range keys {
		w := want[i]
		port := w.Listener.LoadBalancerPort
		target := fmt.Sprintf("%s:%d", name, port)
		var cur *elbtypes.ListenerDescription
		for j := range lb.ListenerDescriptions {
			if l := lb.ListenerDescriptions[j].Listener; l != nil && l.LoadBalancerPort == port {
				cur = &lb.ListenerDescriptions[j]
			}
		}
		create := cur == nil
		policies := create && len(w.PolicyNames) > 0 || cur != nil && sameListener(*cur.Listener, *w.Listener) && !slices.Equal(nonNil(cur.PolicyNames), nonNil(w.PolicyNames))
		if cur != nil && !sameListener(*cur.Listener, *w.Listener) {
			r.find(RuleListenerRestore, "port %d already has a listener (%s); the kept one (%s) is not restored over it", port, describeListener(*cur), describeListener(w))
		}
		if e.cfg.DryRun {
			if create {
				r.Actions = append(r.Actions, planned("CreateLoadBalancerListeners", target)...)
			}
			if policies {
				r.Actions = append(r.Actions, planned("SetLoadBalancerPoliciesOfListener", target)...)
			}
			r.Actions = append(r.Actions, planned("RemoveTags", name+"/"+k)...)
			if create || policies {
				r.findOpen(RuleListenerRestore, "listener %d (%s) is kept in tag %s and would be restored", port, describeListener(w), k)
				restored++
			}
			continue
		}
		if create {
			_, err := e.classic.CreateLoadBalancerListeners(ctx, &elb.CreateLoadBalancerListenersInput{
				LoadBalancerName: aws.String(name), Listeners: []elbtypes.Listener{*w.Listener}}, swapRetryer)
			if !r.record("CreateLoadBalancerListeners", target, err) {
				r.find(RuleListenerRestore, "listener %d (%s) kept in tag %s could not be restored: %v", port, describeListener(w), k, err)
				failed = true
				continue
			}
		}
		if policies {
			_, err := e.classic.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{
				LoadBalancerName: aws.String(name), LoadBalancerPort: port, PolicyNames: w.PolicyNames}, swapRetryer)
			if !r.record("SetLoadBalancerPoliciesOfListener", target, err) {
				r.find(RuleListenerRestore, "listener %d policies %v kept in tag %s could not be restored: %v", port, w.PolicyNames, k, err)
				failed = true
				continue
			}
		}
		if create || policies {
			restored++
			r.find(RuleListenerRestore, "listener %d restored from tag %s: %s", port, k, describeListener(w))
		}
		if !canTag {
			r.find(RuleListenerRestore, "tag %s could not be removed: the client cannot tag", k)
			failed = true
			continue
		}
		_, err := tagger.RemoveTags(ctx, &elb.RemoveTagsInput{LoadBalancerNames: []string{name}, Tags: []elbtypes.TagKeyOnly{{Key: aws.String(k)}}})
		if !r.record("RemoveTags", name+"/"+k, err) {
			failed = true
		}
	}
	switch {
	case r.Status == StatusGone:
		return true
	case failed:
		r.Status = StatusError
		return true
	case e.cfg.DryRun && restored > 0:
		r.Status = StatusNonCompliant
		return true
	case restored > 0:
		r.Status = StatusRolledBack
		return true
	}
	return false
}
