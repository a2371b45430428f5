package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The second parser: a request head the fast path's strict parser refuses
// (a body, another method, HTTP/1.0, an unusual header, a head over 4 KiB
// or with bare-LF line ends, absolute form) is read by net/http's own
// parser (http.ReadRequest, with the checks net/http's Server adds), from
// the same buffered reader, and served by the same rules and the same
// writer as the fast path's. The connection stays in the keep-alive loop:
// its next request may be fast again.

// headTap records the bytes a connection's reader takes from the socket
// while the net/http parser reads a head, and bounds them
// (max_header_bytes): with the bytes already buffered, they are the raw
// head, which the framing rule reads (net/http drops the Content-Length of
// a request that also has Transfer-Encoding before anyone sees it).
type headTap struct {
	r     io.Reader // the client connection
	on    bool
	rec   []byte
	limit int
	over  bool // the limit was hit (textproto may report a truncated line instead)
}

// maxHeaderValues is net/http's Server limit on the header values of a
// request (DefaultMaxHeaderValueCount, Go 1.27): over it, 431.
const maxHeaderValues = 500

// errHeadTooLarge: the head exceeds max_header_bytes (431).
var errHeadTooLarge = errors.New("proxy: request head over max_header_bytes")

func (t *headTap) Read(p []byte) (int, error) {
	if t.on && len(t.rec) >= t.limit {
		t.over = true
		return 0, errHeadTooLarge
	}
	n, err := t.r.Read(p)
	if t.on && n > 0 {
		t.rec = append(t.rec, p[:n]...)
	}
	return n, err
}

// rawHead is the head of a request as the client sent it (up to and with
// its blank line) and the fields it names, read in one pass (scanHead).
type rawHead struct {
	bytes []byte
	headFields
}

// readRequest reads one request head with net/http's parser. It returns
// the request, its raw head, and, on error, the status to answer (0: close
// without an answer).
func readRequest(f *httpConn, maxHead int) (*http.Request, rawHead, int) {
	if f.afterPost {
		// RFC 9112 §2.2 tolerance, as net/http's Server: a client may send
		// a CRLF after a POST body.
		peek, _ := f.br.Peek(min(4, f.br.Buffered()))
		n := 0
		for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
			n++
		}
		_, _ = f.br.Discard(n)
	}
	t := &f.src
	buffered, _ := f.br.Peek(f.br.Buffered())
	t.rec = append(t.rec[:0], buffered...)
	t.limit, t.on, t.over = maxHead+4096, true, false // the slack net/http's Server allows
	r, err := http.ReadRequest(f.br)
	t.on = false
	if err != nil && t.over {
		err = errHeadTooLarge
	}
	raw := t.rec
	t.rec = nil
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, errHeadTooLarge):
			return nil, rawHead{}, http.StatusRequestHeaderFieldsTooLarge
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne):
			return nil, rawHead{}, 0 // the client went away, or timed out (header_timeout): no answer, as net/http
		case strings.HasPrefix(err.Error(), "unsupported transfer encoding"):
			return nil, rawHead{}, http.StatusNotImplemented // as net/http's Server
		}
		return nil, rawHead{}, http.StatusBadRequest
	}
	if end := headEnd(raw); end >= 0 {
		raw = raw[:end]
	}
	head := rawHead{bytes: raw, headFields: scanHead(raw)}
	return r, head, checkRequest(r, head.headFields)
}

// checkRequest applies what net/http's Server checks after its parser
// (server.go readRequest) and the proxy's framing rule; 0 if r is fine.
func checkRequest(r *http.Request, fields headFields) int {
	if r.ProtoMajor != 1 {
		return http.StatusHTTPVersionNotSupported
	}
	// net/http ignores Transfer-Encoding on HTTP/1.0: the body would be
	// read as empty and the chunks dropped. Refused, as nginx does.
	if !r.ProtoAtLeast(1, 1) && fields.transferEncoding {
		return http.StatusBadRequest
	}
	// http.ReadRequest moved Host to r.Host (and refused several).
	if r.ProtoAtLeast(1, 1) && !fields.host {
		return http.StatusBadRequest
	}
	if r.Host != "" && !httpguts.ValidHostHeader(r.Host) {
		return http.StatusBadRequest
	}
	if !targetForm(r) {
		return http.StatusBadRequest
	}
	values := 0
	for _, vv := range r.Header {
		values += len(vv)
	}
	if values > maxHeaderValues {
		return http.StatusRequestHeaderFieldsTooLarge
	}
	for k, vv := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return http.StatusBadRequest
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return http.StatusBadRequest
			}
		}
	}
	// net/http adds Cache-Control: no-cache to a request with Pragma:
	// no-cache alone; the app receives what the client sent.
	if !fields.cacheControl {
		delete(r.Header, "Cache-Control")
	}
	return 0
}

// headFields says which of the fields the rules ask about a raw head
// names (its lines end in LF, CR optional).
type headFields struct {
	host, cacheControl, contentLength, transferEncoding bool
}

// scanHead reads the field names of a raw head once.
func scanHead(raw []byte) headFields {
	var h headFields
	first := true
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if first {
			first = false
			continue // request line
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		switch name := string(line[:c]); { // compared only
		case equalFold(name, "host"):
			h.host = true
		case equalFold(name, "cache-control"):
			h.cacheControl = true
		case equalFold(name, "content-length"):
			h.contentLength = true
		case equalFold(name, "transfer-encoding"):
			h.transferEncoding = true
		}
	}
	return h
}

// conflictingFraming reports a head with both Content-Length and
// Transfer-Encoding (RFC 9112 §6.1: refused, whatever the segmentation;
// the head is read whole before this is asked).
func (h headFields) conflictingFraming() bool {
	return h.contentLength && h.transferEncoding
}

// headEnd is the length of the head in raw, blank line included; -1 if
// it is not complete.
func headEnd(raw []byte) int {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return -1
		}
		line := raw[i : i+j]
		i += j + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i
		}
	}
	return -1
}

// serveParsed serves one request the fast path's parser refused: read by
// net/http's parser, then routed by the same rules (route) and answered by
// the same writers. It reports whether the connection stays open and
// whether a tunnel took it. headArmed: the loop armed header_timeout at
// the head's first byte, and it bounds the whole head, whichever parser
// reads it (a slowloris gets one header_timeout, not two).
func (l *listener) serveParsed(f *httpConn, st *listenerState, noHeader, headArmed bool) (keepAlive, tunneled bool) {
	fc := f.fc
	f.headReq = false // not a HEAD until its request line says so
	if !headArmed {
		_ = fc.SetReadDeadline(time.Now().Add(st.cfg.HeaderTimeout))
	}
	r, head, bad := readRequest(f, st.cfg.MaxHeaderBytes)
	if r == nil {
		if bad != 0 {
			l.metrics.reject("bad_request")
			l.answer(f, bad, http.StatusText(bad), false, false)
		}
		return false, false
	}
	f.afterPost = r.Method == http.MethodPost
	fc.requests.Add(1)
	start := time.Now()
	host := r.Host
	e := l.newEntry(fc, start, r.Method, r.RequestURI, r.Proto, host, headerValue(r.Header, "Referer"), headerValue(r.Header, "User-Agent"))
	if bad != 0 {
		l.metrics.reject("bad_request")
		status, sent := l.answer(f, bad, http.StatusText(bad), false, false)
		l.finish(f, &e, status, sent)
		return false, false
	}
	target := requestTarget(r)
	hasBody := r.ContentLength != 0 || len(r.TransferEncoding) > 0
	isHead := r.Method == http.MethodHead
	f.headReq = isHead
	keepAlive = !r.Close && r.ProtoAtLeast(1, 1) && !l.draining.Load()
	conn := r.Header["Connection"]
	webSocket := len(r.Header["Upgrade"]) == 1 &&
		webSocketUpgrade(r.Method, r.ProtoAtLeast(1, 1), hasTokenIn(conn, "upgrade"), r.Header["Upgrade"][0])

	var status int
	var sent int64
	switch route(st, target, noHeader, head.conflictingFraming(), webSocket) {
	case routeHealth:
		status, sent, keepAlive = l.answerHealth(f, isHead, keepAlive && !hasBody)
	case routeNoHeader:
		status, sent = l.refuseNoHeader(f)
		keepAlive = false
	case routeConflicting:
		status, sent = l.refuse(f, "conflicting_framing", http.StatusBadRequest, "conflicting Content-Length and Transfer-Encoding")
		keepAlive = false
	case routeRedirect:
		status, sent = answerRedirect(l, f, host, r.RequestURI, st, keepAlive && !hasBody)
		keepAlive = keepAlive && !hasBody && status == http.StatusMovedPermanently
	case routeUpgrade:
		if hasBody {
			status, sent = l.refuse(f, "upgrade_with_body", http.StatusBadRequest, errUpgradeBody.Error())
			keepAlive = false
			break
		}
		out := l.parsedRequest(f, r, target, st, trimOWS(r.Header["Upgrade"][0]), noBodyFraming)
		return false, l.upgrade(f, out, e, st)
	default:
		if refusedMethod(r.Method) {
			// No tunnels through the proxy, and no echo of the request's
			// headers (cookies included) back to a script (cross-site
			// tracing): refused, as nginx does.
			status, sent = l.refuse(f, "method", http.StatusMethodNotAllowed, http.StatusText(http.StatusMethodNotAllowed))
			keepAlive = false
			break
		}
		if exp := r.Header["Expect"]; len(exp) > 0 && (len(exp) > 1 || !equalFold(trimOWS(exp[0]), "100-continue")) {
			status, sent = l.refuse(f, "expectation", http.StatusExpectationFailed, http.StatusText(http.StatusExpectationFailed))
			keepAlive = false
			break
		}
		status, sent, keepAlive = l.proxyParsed(f, r, target, st, keepAlive, isHead)
	}
	l.finish(f, &e, status, sent)
	return keepAlive, false
}

// refusedMethod reports CONNECT, TRACE and TRACK (IIS's TRACE) in any
// case: methods are case-sensitive, but servers and frameworks that fold
// them (IIS, PHP's and Rack's dispatch on an upper-cased method) would
// echo "trace" too.
func refusedMethod(m string) bool {
	return equalFold(m, http.MethodConnect) || equalFold(m, http.MethodTrace) || equalFold(m, "TRACK")
}

// targetForm reports a request target of a form the proxy serves (RFC
// 9112 §3.2): origin form, absolute form with an authority, "*", or
// CONNECT's authority (refused later, 405). net/http's parser also takes
// an authority or a scheme-only URI on any method ("GET a.example:80",
// "GET http:/x"), which would reach the app as "/"; nginx answers them 400.
func targetForm(r *http.Request) bool {
	uri := r.RequestURI
	switch {
	case uri == "*" || (len(uri) > 0 && uri[0] == '/'):
		return true
	case r.Method == http.MethodConnect:
		return true
	}
	return r.URL != nil && r.URL.Scheme != "" && r.URL.Host != "" && r.URL.Opaque == ""
}

// requestTarget is the target the app receives: the client's origin-form
// target byte for byte, the path and query of an absolute-form one, "*".
func requestTarget(r *http.Request) string {
	uri := r.RequestURI
	if uri == "*" || (len(uri) > 0 && uri[0] == '/') {
		return uri
	}
	return originForm(uri)
}

// hasTokenIn reports token in any of a header's comma-separated values.
func hasTokenIn(vs []string, token string) bool {
	for _, v := range vs {
		if hasToken(v, token) {
			return true
		}
	}
	return false
}

// parsedRequest builds the upstream head of a request net/http parsed:
// the header fields that survive the rules (headers named in Connection
// are hop-by-hop too), Host, then appendRequestTail.
func (l *listener) parsedRequest(f *httpConn, r *http.Request, target string, st *listenerState, upgrade string, body bodyFraming) []byte {
	h := make(map[string][]string, len(r.Header)+1)
	rules := st.headerRules()
	for k, v := range r.Header {
		if dropRequestHeader(k, rules) || k == "Content-Length" || k == "Expect" {
			continue
		}
		h[k] = v
	}
	for _, v := range r.Header["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if tok = trimOWS(tok); tok != "" {
				delete(h, http.CanonicalHeaderKey(tok))
			}
		}
	}
	h["Host"] = []string{r.Host}
	out := appendRequestLine(f.out[:0], r.Method, target, st)
	out = appendMapFields(out, h)
	out = appendRequestTail(out, st, f.fc, upgrade, body)
	f.out = out
	return out
}

// proxyParsed relays a request net/http parsed, with its body, and the
// answer back (relay, with a body).
func (l *listener) proxyParsed(f *httpConn, r *http.Request, target string, st *listenerState, keepAlive, isHead bool) (int, int64, bool) {
	framing := noBodyFraming
	switch {
	case len(r.TransferEncoding) > 0:
		framing.chunked = true
	case len(r.Header["Content-Length"]) > 0 || r.ContentLength > 0:
		framing.length = r.ContentLength
	}
	if tooLargeDeclared(framing, st) {
		s, n := l.refuse(f, "body_too_large", http.StatusRequestEntityTooLarge, http.StatusText(http.StatusRequestEntityTooLarge))
		return s, n, false
	}
	var body *clientBody
	if framing.chunked || framing.length > 0 {
		body = &clientBody{r: r.Body, fc: f.fc, timeout: st.cfg.BodyTimeout, chunked: framing.chunked, limit: st.cfg.ClientMaxBodySize}
		if r.ProtoAtLeast(1, 1) && len(r.Header["Expect"]) > 0 {
			body.cont = f.bw // 100-continue: sent when the body is first read
		}
	}
	clientDone := body == nil // the client's body is read to its end
	if body != nil && st.cfg.RequestBuffering != BufferingOff {
		// Read whole before the app is contacted (bodybuffer.go), sent
		// with its length.
		bb, err := bufferBody(body, st.cfg.ClientBodyBufferSize)
		if err != nil {
			if body.err != nil {
				return l.answerBodyError(f, body)
			}
			status := l.upstreamFailed(context.Background(), st, err) // the proxy's own failure: 502
			s, n := l.answer(f, status, http.StatusText(status), false, false)
			return s, n, false
		}
		defer bb.close()
		framing = bodyFraming{length: bb.size}
		body = &clientBody{r: bb.reader(), fc: f.fc}
		clientDone = true
	}
	out := l.parsedRequest(f, r, target, st, "", framing)
	replayable := body == nil && (r.Method == http.MethodGet || isHead || r.Method == http.MethodOptions || r.Method == http.MethodTrace)
	status, sent, keep := l.relay(f, out, body, st, isHead, !r.ProtoAtLeast(1, 1), keepAlive, replayable)
	if !clientDone && !body.done {
		keep = false // the rest of the body is still on the connection
	}
	return status, sent, keep
}

// clientBody is a request body on its way to the app: each read waits at
// most body_timeout (timeouts.go), a client error is kept apart from the
// app's, and an Expect: 100-continue is answered on the first read.
type clientBody struct {
	r         io.Reader
	fc        *frontConn
	timeout   time.Duration
	chunked   bool
	cont      *bufio.Writer // write "100 Continue" here before the first read
	limit     int64         // client_max_body_size (0: none)
	read      int64
	done      bool  // read to its end
	tooLarge  bool  // over limit: 413
	err       error // the client's read error
	expired   bool  // body_timeout expired
	malformed bool  // the body's framing is broken (a bad chunk): 400
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.cont != nil {
		_, _ = b.cont.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		err := b.cont.Flush()
		b.cont = nil
		if err != nil {
			b.err = err
			return 0, err
		}
	}
	if b.timeout > 0 {
		_ = b.fc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.limit > 0 && b.read > b.limit {
		b.tooLarge = true
		b.err = fmt.Errorf("%w (%d bytes)", errBodyTooLarge, b.limit)
		return n, b.err
	}
	switch {
	case errors.Is(err, io.EOF):
		b.done = true
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: %w", errBodyTimeout, err)
		b.expired, b.err = true, err
		b.fc.l.clientTimedOut(b.fc, "body_timeout", b.timeout)
	case err != nil:
		var ne net.Error
		b.err = err
		b.malformed = !errors.As(err, &ne) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed)
	}
	return n, err
}
