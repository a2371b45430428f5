package proxy

import "net/http"

// The rules for an answer relayed from the app, on both paths (the fast
// path applies them while copying header lines in relayResponse, net/http
// through relayedHeaders):
//   - the app's hop-by-hop headers (hopHeaders) are dropped, except that
//     the fast path relays Transfer-Encoding and Trailer with the chunked
//     body it copies as is (net/http re-frames the body and writes its own);
//   - with hsts set, Strict-Transport-Security is the listener's, replacing
//     the app's;
//   - no Content-Type is added when the app sent none (net/http would sniff
//     one from the body; recorder's noSniff stops it).

// relayedHeaders applies the relay rules to the headers of an app's answer
// on the net/http path.
func relayedHeaders(h http.Header, st *listenerState) {
	for _, k := range hopHeaders {
		delete(h, k)
	}
	if st.hstsVal != nil {
		h["Strict-Transport-Security"] = st.hstsVal
	}
}
