package engine

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
)

// A port must never stay dark. Before a listener swap deletes a listener, the
// listener's full description is written to a tag on the load balancer
// itself (elbguard:restore:PORT, write-ahead), and removed once the port
// serves again (the replacement made, or the original put back). A process
// killed between the delete and the create, or a swap whose replacement and
// rollback both failed, leaves the record behind, where a person can read it
// and the next run restores it exactly (protocols, ports, certificate,
// policies) before changing anything else.
//
// Anyone allowed to tag the load balancer could write such a tag, and a
// record makes elbguard create a listener: so a record is signed. Its MAC is
// HMAC-SHA-256, truncated to 128 bits, over the load balancer's identity
// (account, region, name, creation time: a record copied to another load
// balancer, or to a new one of the same name, does not verify), the tag key
// and the record, keyed by a secret the stack generates and only elbguard's
// Lambdas can read (WithRestoreKey). A record that does not verify, is
// unsigned, or is older than RestoreMaxAge is never acted on and never
// removed: status error, finding restore_record_invalid. A run without the
// key (a person's CLI) reports records and acts on none. And a record is
// acted on only where the tags already allow a change: mode enforce, no
// exemption, no infrastructure-as-code owner, the port within
// elbguard:ports.
//
// The tag value is compact and strict, within AWS's tag value rules (at most
// 256 characters of letters, digits, spaces and _ . : / = + - @):
//
//	v2 HTTPS:443 HTTP:81 cert=arn:aws:iam::123456789012:server-certificate/web pol=tls-2017+sticky t=1796000000 mac=3q2-7wAAAAAAAAAAAAAAAA
//
// Seven fields separated by single spaces: the version, the front-end
// protocol and port, the instance protocol and port, the certificate ARN
// (empty for HTTP and TCP), the listener's policy names joined by '+', when
// the record was written (Unix seconds) and the MAC (base64url, no padding;
// empty when the run that wrote it had no key).

// classicTagAPI is the Classic tagging the restore tag needs
// (*elasticloadbalancing.Client has it; the engine finds it on its client).
type classicTagAPI interface {
	AddTags(ctx context.Context, in *elb.AddTagsInput, optFns ...func(*elb.Options)) (*elb.AddTagsOutput, error)
	RemoveTags(ctx context.Context, in *elb.RemoveTagsInput, optFns ...func(*elb.Options)) (*elb.RemoveTagsOutput, error)
}

var _ classicTagAPI = (*elb.Client)(nil)

const (
	restoreVersion  = "v2"
	maxTagValue     = 256
	restoreCertKey  = "cert="
	restorePolicies = "pol="
	restoreTimeKey  = "t="
	restoreMACKey   = "mac="
	// restoreMACBytes is the truncated HMAC-SHA-256 length (128 bits, 22
	// base64url characters), which leaves the listener 216 of the 256.
	restoreMACBytes = 16
	// MinRestoreKeyBytes is the shortest restore key WithRestoreKey accepts.
	MinRestoreKeyBytes = 32
	// RestoreMaxAge bounds how long a record is acted on: an older one (a
	// port dark for a week despite a restore every run, or an old record
	// someone copied back) is left to a person.
	RestoreMaxAge = 7 * 24 * time.Hour
	// restoreInFlight is how long a record may belong to a swap still under
	// way (write-ahead): a run that finds one younger leaves the load
	// balancer to that swap (status deferred); the next run restores it if
	// the swap died.
	restoreInFlight = listenerSwapTimeout + 20*time.Second
)

// ErrRestoreTag is wrapped by every restore tag parse and encode error.
var ErrRestoreTag = errors.New("enforce: invalid restore tag")

// RestoreRecord is a listener kept in a restore tag.
type RestoreRecord struct {
	Listener elbtypes.ListenerDescription
	// Written is when the record was written, in whole seconds.
	Written time.Time
	// MAC is the record's signature, base64url; empty: unsigned.
	MAC string
}

// restoreKey signs and verifies restore records for the load balancers of
// one account and region.
type restoreKey struct {
	key             []byte
	account, region string
}

// WithRestoreKey gives the engine the secret that signs the restore records
// it writes and verifies those it reads, and the account and region its
// clients act in (a record is bound to its load balancer). Without it the
// engine writes unsigned records and acts on none. A key shorter than
// MinRestoreKeyBytes fails New.
func WithRestoreKey(key []byte, account, region string) Option {
	return func(e *Engine) {
		e.restore = &restoreKey{key: slices.Clone(key), account: account, region: region}
	}
}

// sign returns the MAC of a record (its tag key and its value without the
// MAC) on lb.
func (k *restoreKey) sign(lb *elbtypes.LoadBalancerDescription, tagKey, body string) string {
	m := hmac.New(sha256.New, k.key)
	created := int64(0)
	if lb.CreatedTime != nil {
		created = lb.CreatedTime.UnixMilli()
	}
	fmt.Fprintf(m, "elbguard restore record\naccount %s\nregion %s\nloadbalancer %s\ncreated %d\nkey %s\nvalue %s",
		k.account, k.region, aws.ToString(lb.LoadBalancerName), created, tagKey, body)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:restoreMACBytes])
}

// verify reports whether rec, kept under tagKey on lb, was signed with k.
func (k *restoreKey) verify(lb *elbtypes.LoadBalancerDescription, tagKey string, rec RestoreRecord) bool {
	body, err := restoreBody(rec)
	if err != nil || rec.MAC == "" {
		return false
	}
	return hmac.Equal([]byte(k.sign(lb, tagKey, body)), []byte(rec.MAC))
}

// restoreBody renders rec without its MAC field.
func restoreBody(rec RestoreRecord) (string, error) {
	l := rec.Listener.Listener
	if l == nil {
		return "", fmt.Errorf("%w: no listener", ErrRestoreTag)
	}
	front, inst := strings.ToUpper(aws.ToString(l.Protocol)), instanceProtocol(l)
	cert := aws.ToString(l.SSLCertificateId)
	for _, p := range rec.Listener.PolicyNames {
		if !restoreToken(p, false) || p == "" {
			return "", fmt.Errorf("%w: policy name %q cannot be kept in a tag", ErrRestoreTag, p)
		}
	}
	if rec.Written.Unix() <= 0 {
		return "", fmt.Errorf("%w: no time written", ErrRestoreTag)
	}
	return fmt.Sprintf("%s %s:%d %s:%d %s%s %s%s %s%d", restoreVersion, front, l.LoadBalancerPort, inst, aws.ToInt32(l.InstancePort),
		restoreCertKey, cert, restorePolicies, strings.Join(rec.Listener.PolicyNames, "+"), restoreTimeKey, rec.Written.Unix()), nil
}

// EncodeRestore renders a record as its restore tag. It fails when the
// listener cannot be kept within AWS's tag rules (then a person must restore
// it from the report).
func EncodeRestore(rec RestoreRecord) (key, value string, err error) {
	body, err := restoreBody(rec)
	if err != nil {
		return "", "", err
	}
	value = body + " " + restoreMACKey + rec.MAC
	l := rec.Listener.Listener
	key = TagRestorePrefix + strconv.Itoa(int(l.LoadBalancerPort))
	back, err := ParseRestore(key, value)
	if err != nil {
		return "", "", err
	}
	if !sameListener(*back.Listener.Listener, *l) || !slices.Equal(nonNil(back.Listener.PolicyNames), nonNil(rec.Listener.PolicyNames)) {
		return "", "", fmt.Errorf("%w: listener %d does not survive the round trip", ErrRestoreTag, l.LoadBalancerPort)
	}
	return key, value, nil
}

// ParseRestore parses a restore tag strictly: the key's port must be the
// listener's, every field must be present once and well formed. It does not
// verify the MAC (that needs the key and the load balancer).
func ParseRestore(key, value string) (RestoreRecord, error) {
	bad := func(format string, args ...any) (RestoreRecord, error) {
		return RestoreRecord{}, fmt.Errorf("%w: %s", ErrRestoreTag, fmt.Sprintf(format, args...))
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
	if len(f) != 7 || f[0] != restoreVersion {
		return bad("want %q and six fields separated by single spaces", restoreVersion+" FRONT:PORT INSTANCE:PORT cert=ARN pol=A+B t=UNIX mac=MAC")
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
	ts, ok := strings.CutPrefix(f[5], restoreTimeKey)
	secs, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || secs <= 0 || strconv.FormatInt(secs, 10) != ts {
		return bad("time field %q; want t= and Unix seconds", f[5])
	}
	mac, ok := strings.CutPrefix(f[6], restoreMACKey)
	if !ok || (mac != "" && !validMAC(mac)) {
		return bad("MAC field %q; want mac= and %d base64url characters, or nothing", f[6], base64.RawURLEncoding.EncodedLen(restoreMACBytes))
	}
	l := &elbtypes.Listener{Protocol: aws.String(front), LoadBalancerPort: port, InstanceProtocol: aws.String(inst), InstancePort: aws.Int32(iport)}
	if cert != "" {
		l.SSLCertificateId = aws.String(cert)
	}
	return RestoreRecord{Listener: elbtypes.ListenerDescription{Listener: l, PolicyNames: names}, Written: time.Unix(secs, 0).UTC(), MAC: mac}, nil
}

// validMAC reports whether s is the canonical base64url of restoreMACBytes.
func validMAC(s string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == restoreMACBytes
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

// record returns orig's restore record, written now and signed when the
// engine has the key.
func (e *Engine) record(lb *elbtypes.LoadBalancerDescription, orig elbtypes.ListenerDescription) (key, value string, err error) {
	rec := RestoreRecord{Listener: orig, Written: e.clock().Truncate(time.Second)}
	body, err := restoreBody(rec)
	if err != nil {
		return "", "", err
	}
	if e.restore != nil {
		rec.MAC = e.restore.sign(lb, TagRestorePrefix+strconv.Itoa(int(orig.Listener.LoadBalancerPort)), body)
	}
	return EncodeRestore(rec)
}

// writeAhead writes orig's restore record before this run deletes it, so
// that a process killed before the port serves again leaves the record for
// the next run. false (status error, nothing deleted) when it cannot.
func (e *Engine) writeAhead(ctx context.Context, r *Report, lb *elbtypes.LoadBalancerDescription, orig elbtypes.ListenerDescription) bool {
	name := aws.ToString(lb.LoadBalancerName)
	port := orig.Listener.LoadBalancerPort
	key, value, err := e.record(lb, orig)
	if err != nil {
		r.fail(fmt.Errorf("listener %s:%d not replaced: it cannot be kept in a restore tag first (%w), and a run stopped between the delete and the create would leave the port dark with no record; replace it by hand", name, port, err))
		return false
	}
	tagger, ok := e.classic.(classicTagAPI)
	if !ok {
		r.fail(fmt.Errorf("listener %s:%d not replaced: the client cannot write its restore tag first", name, port))
		return false
	}
	in := &elb.AddTagsInput{LoadBalancerNames: []string{name}, Tags: []elbtypes.Tag{{Key: aws.String(key), Value: aws.String(value)}}}
	if !r.call("AddTags", name+"/"+key, in, func() error {
		_, err := tagger.AddTags(ctx, in)
		return err
	}) {
		r.find(RuleListenerRestore, "listener %d not replaced: its restore tag %s could not be written first (%v)", port, key, r.err)
		return false
	}
	return true
}

// dropRecord removes the restore record of port once it serves again. A
// failure is reported but is not the swap's: the next run finds the record
// with the port served and removes it.
func (e *Engine) dropRecord(ctx context.Context, r *Report, name string, port int32) {
	key := TagRestorePrefix + strconv.Itoa(int(port))
	tagger, ok := e.classic.(classicTagAPI)
	if !ok {
		return
	}
	in := &elb.RemoveTagsInput{LoadBalancerNames: []string{name}, Tags: []elbtypes.TagKeyOnly{{Key: aws.String(key)}}}
	var err error
	if r.planning != "" {
		r.call("RemoveTags", name+"/"+key, in, nil)
		return
	}
	if _, err = tagger.RemoveTags(ctx, in); err != nil {
		r.Actions = append(r.Actions, Action{API: "RemoveTags", Target: name + "/" + key, Params: Params(in), Status: ActionFailed, Error: err.Error()})
		r.find(RuleListenerRestore, "listener %d serves again but its restore tag %s could not be removed (%v); the next run removes it", port, key, err)
		return
	}
	r.Actions = append(r.Actions, Action{API: "RemoveTags", Target: name + "/" + key, Params: Params(in), Status: ActionApplied})
}

// keepForRestore (re)writes the restore tag after a listener could not be
// put back, so that the next run restores it; it always reports the
// listener's full description, so that a person can restore it when the tag
// cannot be written either.
func (e *Engine) keepForRestore(ctx context.Context, r *Report, lb *elbtypes.LoadBalancerDescription, orig elbtypes.ListenerDescription) {
	name := aws.ToString(lb.LoadBalancerName)
	port := orig.Listener.LoadBalancerPort
	desc := describeListener(orig)
	key, value, err := e.record(lb, orig)
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

// restoreListeners puts back the listeners kept in restore records, before
// any other change (they undo elbguard's own unfinished change), but after
// the mode and scope tags were read: blocked is true when those already
// stopped the run (mode off or invalid, exempt, a malformed elbguard tag).
// It acts only on records that verify, in enforce mode, without an
// infrastructure-as-code hold, on ports within elbguard:ports; any other
// record is reported, and the load balancer is left as it is (status
// error). done is true when the run must stop here: a restore was made,
// planned (dry run), deferred or failed, or a record is not acted on. A
// record whose port already has another listener is removed, and the run
// goes on.
func (e *Engine) restoreListeners(ctx context.Context, r *Report, lb *elbtypes.LoadBalancerDescription, tags map[string]string, sc scope, blocked bool) (done bool) {
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
	now := e.clock()
	want := make([]elbtypes.ListenerDescription, len(keys))
	invalid, unverified, young := false, false, time.Time{}
	for i, k := range keys {
		rec, err := ParseRestore(k, tags[k])
		switch {
		case err != nil:
			invalid = true
			r.find(RuleRestoreRecordInvalid, "tag %s=%q is not a restore record elbguard writes (%v); never acted on: check the listener on that port, restore it by hand if needed, and remove the tag", k, tags[k], err)
			continue
		case rec.MAC == "":
			invalid = true
			r.find(RuleRestoreRecordInvalid, "tag %s=%q is unsigned (written by a run without the restore key, such as a person's CLI); never acted on: check the listener on port %d, restore it by hand if needed (%s), and remove the tag",
				k, tags[k], rec.Listener.Listener.LoadBalancerPort, describeListener(rec.Listener))
		case e.restore == nil:
			unverified = true
			r.find(RuleListenerRestore, "listener %d (%s) is kept in tag %s, which this run cannot verify (no restore key, %s): elbguard's Lambdas restore it; or check it and recreate it by hand, then remove the tag",
				rec.Listener.Listener.LoadBalancerPort, describeListener(rec.Listener), k, restoreKeyHint)
		case !e.restore.verify(lb, k, rec):
			invalid = true
			r.find(RuleRestoreRecordInvalid, "tag %s=%q does not verify: elbguard did not write it for this load balancer (or its key changed since); never acted on and never removed by elbguard. Find who wrote it (CloudTrail AddTags), then remove it", k, tags[k])
		case now.Sub(rec.Written) > RestoreMaxAge:
			invalid = true
			r.find(RuleRestoreRecordInvalid, "tag %s was written at %s, more than %s ago; no longer acted on: check the listener on port %d, restore it by hand if needed (%s), and remove the tag",
				k, rec.Written.Format(time.RFC3339), RestoreMaxAge, rec.Listener.Listener.LoadBalancerPort, describeListener(rec.Listener))
		case now.Sub(rec.Written) < restoreInFlight:
			young = rec.Written
		}
		want[i] = rec.Listener
	}
	if invalid || unverified {
		r.Status = StatusError
		return true
	}
	if !young.IsZero() {
		r.Status = StatusDeferred
		r.find(RuleConcurrentChange, "a listener swap wrote its restore record at %s, %s ago: it may still be under way, so this run leaves the load balancer to it; the next run restores the listener if the swap stopped",
			young.Format(time.RFC3339), now.Sub(young).Round(time.Second))
		return true
	}
	why := ""
	switch {
	case blocked && r.Status == StatusExempt:
		why = "the load balancer is exempt"
	case blocked && r.Status == StatusError:
		why = "its elbguard tags are invalid (see the other findings)"
	case r.Mode != ModeEnforce:
		// Off and audit never write (and the enforcer's IAM policy allows
		// load balancer writes only where the mode is enforce).
		why = fmt.Sprintf("the mode is %q: elbguard restores it only in enforce mode. Recreate it by hand and remove the tag, or set %s=enforce", r.Mode, e.cfg.TagKey)
	case r.hold != nil:
		r.holdFinding()
		why = "infrastructure as code owns the load balancer (see " + RuleManagedByIaC + "): recreate it there"
	}
	if why == "" {
		for i := range keys {
			if p := want[i].Listener.LoadBalancerPort; !sc.manages(p) {
				why = fmt.Sprintf("port %d is outside %s", p, TagPorts)
			}
		}
	}
	if why != "" {
		r.Status = StatusError
		for i, k := range keys {
			r.find(RuleListenerRestore, "listener %d (%s) is kept in tag %s to be restored, but %s", want[i].Listener.LoadBalancerPort, describeListener(want[i]), k, why)
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

// restoreKeyHint says where the key comes from, for findings.
const restoreKeyHint = "ELBGUARD_RESTORE_KEY_SECRET names the secret"
