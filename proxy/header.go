package proxy

import (
	"net/http"
	"strings"
)

// Header-name rules, once for both parsers: the fast path's (fasthead.go)
// on bytes, net/http's on http.Header keys. Names compare ASCII
// case-insensitively and, for the dropped sets, read '_' as '-': CGI-style
// apps (PHP, Rack, WSGI) see X_Forwarded_For as X-Forwarded-For.

// hopHeaders are connection-specific (RFC 9110 §7.6.1, httputil's list,
// and HTTP2-Settings of an h2c upgrade, RFC 7540 §3.2.1): never forwarded
// as the client sent them. A WebSocket upgrade gets its Connection and
// Upgrade from the proxy.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings"}

// spoofableHeaders claim a client address, protocol, endpoint, identity
// or original URL that only the PROXY header, or a proxy in front, may
// tell; every X-Forwarded-* and X-Amzn-Oidc-* name (spoofablePrefixes) is
// dropped too. Libraries and frameworks read some of these before
// X-Forwarded-For (WebLogic's WL-Proxy-Client-IP, App Engine's, Envoy's,
// Cloudflare's), and X-Original-URL / X-Rewrite-URL make IIS-style
// frameworks (Symfony, Zend) route to a path the proxy never saw.
var spoofableHeaders = []string{"Forwarded", "X-Real-Ip", "X-Amzn-Vpce-Id", "Client-Ip", "True-Client-Ip",
	"X-Client-Ip", "Cf-Connecting-Ip", "X-Cluster-Client-Ip", "Fastly-Client-Ip", "X-Original-Forwarded-For",
	"X-Forwarded", "Forwarded-For", "Proxy-Client-Ip", "Wl-Proxy-Client-Ip", "X-Originating-Ip", "X-Remote-Ip",
	"X-Remote-Addr", "X-Proxyuser-Ip", "X-Envoy-External-Address", "X-Appengine-User-Ip", "Cf-Pseudo-Ipv4",
	"X-Original-Url", "X-Rewrite-Url"}

// spoofablePrefixes start names that are all dropped: X-Forwarded-*, and
// X-Amzn-Oidc-* (ALB's sign-in: Data, Identity, Accesstoken), which an app
// written for an ALB trusts as the signed-in user.
var spoofablePrefixes = []string{"x-forwarded-", "x-amzn-oidc-"}

// droppedByLen indexes the lower-cased hop-by-hop and spoofable names by
// length: one table lookup and a comparison or two per header line.
var droppedByLen = func() (t [32][]string) {
	for _, n := range append(append([]string(nil), hopHeaders...), spoofableHeaders...) {
		t[len(n)] = append(t[len(n)], strings.ToLower(n))
	}
	return t
}()

// hopByLen indexes the lower-cased hopHeaders by length.
var hopByLen = func() (t [32][]string) {
	for _, n := range hopHeaders {
		t[len(n)] = append(t[len(n)], strings.ToLower(n))
	}
	return t
}()

// isHopHeader reports a hop-by-hop header name (ASCII case-insensitive).
func isHopHeader[T string | []byte](name T) bool {
	if len(name) < len(hopByLen) {
		for _, n := range hopByLen[len(name)] {
			if equalFold(string(name), n) {
				return true
			}
		}
	}
	return false
}

// headerRules are a listener's choices in the request-header rules:
// underscores_in_headers, and drop_request_headers (the operator's own
// names, lower case, as normalize leaves them). The zero value is the
// default.
type headerRules struct {
	allowUnderscores bool
	drop             []string
}

// headerRules are the listener's request-header rules.
func (st *listenerState) headerRules() headerRules {
	return headerRules{allowUnderscores: st.cfg.UnderscoresInHeaders, drop: st.cfg.DropRequestHeaders}
}

// dropRequestHeader reports whether a client's request header never
// reaches the app: hop-by-hop, spoofable (X-Forwarded-* and
// X-Amzn-Oidc-* included), named by the operator (drop_request_headers),
// or spelt with an underscore while underscores are not allowed (nginx's
// underscores_in_headers off, the default).
func dropRequestHeader[T string | []byte](name T, rules headerRules) bool {
	if len(name) == 0 {
		return false
	}
	first := name[0] | 0x20 // lower-case letter (names start with a token character)
	if len(name) < len(droppedByLen) {
		for _, n := range droppedByLen[len(name)] {
			if n[0] == first && foldDashPrefix(name, n) {
				return true
			}
		}
	}
	if first == 'x' && len(name) >= len("x-amzn-oidc-") {
		for _, p := range spoofablePrefixes {
			if foldDashPrefix(name, p) {
				return true
			}
		}
	}
	for _, n := range rules.drop {
		if len(n) == len(name) && foldDashPrefix(name, n) {
			return true
		}
	}
	if !rules.allowUnderscores {
		for i := range len(name) {
			if name[i] == '_' {
				return true
			}
		}
	}
	return false
}

// spoofableName reports whether a request header name claims a client
// address (spoofableHeaders or spoofablePrefixes), whatever its case and
// whether it is spelt with '-' or '_'.
func spoofableName[T string | []byte](name T) bool {
	for _, n := range spoofableHeaders {
		if len(n) == len(name) && foldDashPrefix(name, strings.ToLower(n)) {
			return true
		}
	}
	for _, p := range spoofablePrefixes {
		if foldDashPrefix(name, p) {
			return true
		}
	}
	return false
}

// foldDashPrefix reports whether name starts with the lower-case prefix,
// ignoring case and reading '_' as '-'.
func foldDashPrefix[T string | []byte](name T, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// forwardedHeader is one header the app receives about the client.
type forwardedHeader struct {
	name  string
	value []string // shared per connection or listener, never mutated
}

// forwarded lists the headers the app receives about the client, from
// the connection's PROXY information: the one list appendRequestTail
// writes for both parsers.
func (st *listenerState) forwarded(fc *frontConn) ([5]forwardedHeader, int) {
	f := [5]forwardedHeader{
		{"X-Forwarded-For", fc.xff}, {"X-Real-Ip", fc.xff}, {"X-Forwarded-Proto", st.protoVal},
		{"X-Forwarded-Port", fc.port}, {"X-Amzn-Vpce-Id", fc.vpceVal},
	}
	if fc.vpceVal == nil {
		return f, 4
	}
	return f, 5
}

// webSocketUpgrade is the one upgrade decision: an HTTP/1.1 GET whose
// Connection names "upgrade" and whose Upgrade is exactly "websocket". On
// HTTP/1.0 Upgrade is ignored (RFC 9110 §7.8: a server must ignore it),
// never tunnelled: the request is a plain one. Any other
// Upgrade (h2c above all, which would hand the client an HTTP/2 connection
// that no forwarding rule sees) is not a protocol switch: the request is
// proxied as a plain request without Upgrade, HTTP2-Settings and
// Connection.
func webSocketUpgrade[T string | []byte](method string, http11, connectionUpgrade bool, upgrade T) bool {
	if method != http.MethodGet || !http11 || !connectionUpgrade {
		return false
	}
	s, e := 0, len(upgrade)
	for s < e && (upgrade[s] == ' ' || upgrade[s] == '\t') {
		s++
	}
	for e > s && (upgrade[e-1] == ' ' || upgrade[e-1] == '\t') {
		e--
	}
	return e-s == len("websocket") && foldDashPrefix(upgrade[s:e], "websocket")
}

func headerValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// hasToken reports whether the comma-separated list v contains token
// (ASCII case-insensitive).
func hasToken(v, token string) bool {
	for len(v) > 0 {
		var part string
		part, v = v, ""
		for i := 0; i < len(part); i++ {
			if part[i] == ',' {
				part, v = part[:i], part[i+1:]
				break
			}
		}
		for len(part) > 0 && (part[0] == ' ' || part[0] == '\t') {
			part = part[1:]
		}
		for len(part) > 0 && (part[len(part)-1] == ' ' || part[len(part)-1] == '\t') {
			part = part[:len(part)-1]
		}
		if equalFold(part, token) {
			return true
		}
	}
	return false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
