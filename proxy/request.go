package proxy

import (
	"bytes"
	"slices"
	"strconv"
)

// The request the app receives, written once for both parsers: the
// request line, the client's header fields that survive header.go's rules
// in one form (canonical names, values trimmed, sorted by name, values of
// one name in the client's order: what net/http's header map can say),
// then the forwarding headers, the upgrade pair and the body's framing.
// The fast path calls it with the spans of its head, the net/http parser
// with its header map; differential_test.go checks that the bytes match.

// appendRequestLine appends "METHOD [base]target HTTP/1.1\r\n".
func appendRequestLine[T string | []byte](out []byte, method, target T, st *listenerState) []byte {
	out = append(out, method...)
	out = append(out, ' ')
	if st.upstreamBase && len(target) > 0 && target[0] == '/' { // not "*"
		base := st.upstream.Path
		if base[len(base)-1] == '/' {
			base = base[:len(base)-1]
		}
		out = append(out, base...)
	}
	out = append(out, target...)
	return append(out, " HTTP/1.1\r\n"...)
}

// appendField appends "Name: value\r\n" with the name in canonical form
// (canonicalByte).
func appendField[T string | []byte](out []byte, name, value T) []byte {
	for i := range len(name) {
		out = append(out, canonicalByte(name, i))
	}
	out = append(out, ": "...)
	out = append(out, value...)
	return append(out, "\r\n"...)
}

// canonicalByte is byte i of name in net/http's canonical form
// (textproto.CanonicalMIMEHeaderKey on a token): upper case at the start
// and after '-', lower case elsewhere.
func canonicalByte[T string | []byte](name T, i int) byte {
	c := name[i]
	if i == 0 || name[i-1] == '-' {
		if 'a' <= c && c <= 'z' {
			return c - ('a' - 'A')
		}
		return c
	}
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// compareCanonical compares two names by their canonical forms, as
// sorting net/http's (canonical) header keys does.
func compareCanonical(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if x, y := canonicalByte(a, i), canonicalByte(b, i); x != y {
			return int(x) - int(y)
		}
	}
	return len(a) - len(b)
}

// appendSpanFields appends the header lines of head listed in lines (each
// "name: value" with its CRLF, value not yet trimmed), sorted by canonical
// name, stable; order is scratch space of len(lines).
func appendSpanFields(out, head []byte, lines []span, order []uint8) []byte {
	n := len(lines)
	for i := range n {
		order[i] = uint8(i)
	}
	name := func(k uint8) []byte {
		line := head[lines[k].start:lines[k].end]
		return line[:bytes.IndexByte(line, ':')]
	}
	for i := 1; i < n; i++ { // insertion sort: a handful of lines, stable
		for j := i; j > 0 && compareCanonical(name(order[j]), name(order[j-1])) < 0; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	for _, k := range order[:n] {
		line := head[lines[k].start : lines[k].end-2]
		colon := bytes.IndexByte(line, ':')
		out = appendField(out, line[:colon], trimOWS(line[colon+1:]))
	}
	return out
}

// appendMapFields appends the fields of a net/http header map (canonical
// keys), sorted by name, each name's values in order.
func appendMapFields(out []byte, h map[string][]string) []byte {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			out = appendField(out, k, v)
		}
	}
	return out
}

// bodyFraming is how a request body reaches the app.
type bodyFraming struct {
	length  int64 // Content-Length when >= 0 and not chunked
	chunked bool
}

var noBodyFraming = bodyFraming{length: -1}

// appendRequestTail appends what the proxy itself tells the app after the
// client's fields: the forwarding headers (header.go), for a WebSocket
// upgrade Connection and Upgrade, the body's framing, and the end of the
// head.
func appendRequestTail[T string | []byte](out []byte, st *listenerState, fc *frontConn, upgrade T, body bodyFraming) []byte {
	fwd, n := st.forwarded(fc)
	for _, fh := range fwd[:n] {
		out = appendField(out, fh.name, fh.value[0])
	}
	if len(upgrade) > 0 {
		out = append(out, "Connection: Upgrade\r\nUpgrade: "...)
		out = append(out, upgrade...)
		out = append(out, "\r\n"...)
	}
	switch {
	case body.chunked:
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	case body.length >= 0:
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, body.length, 10)
		out = append(out, "\r\n"...)
	}
	return append(out, "\r\n"...)
}

// trimOWS trims spaces and tabs around a field value.
func trimOWS[T string | []byte](v T) T {
	s, e := 0, len(v)
	for s < e && (v[s] == ' ' || v[s] == '\t') {
		s++
	}
	for e > s && (v[e-1] == ' ' || v[e-1] == '\t') {
		e--
	}
	return v[s:e]
}
