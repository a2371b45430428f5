// Package proxy is elbguard-proxy: the small reverse proxy that runs on each
// instance behind a Classic ELB or an NLB speaking the PROXY protocol.
//
// It decodes PROXY v1/v2 headers (github.com/pires/go-proxyproto: TCP4,
// TCP6, LOCAL, TLVs), then per listener either redirects HTTP to HTTPS (mode
// "redirect"), reverse-proxies HTTP and WebSocket to an upstream with the
// real client address (mode "http"), or forwards raw TCP (mode "tcp",
// optionally re-sending a PROXY header upstream). It writes a buffered
// access log, serves Prometheus metrics on an admin listener and drains
// gracefully. Config reference: Config and ListenerConfig; sample:
// deploy/elbguard-proxy.yaml.
//
// Headers the upstream receives in mode "http":
//
//	X-Forwarded-For    client address from the PROXY header (replaces any client value)
//	X-Real-IP          the same address
//	X-Forwarded-Proto  the listener's forwarded_proto (default "https")
//	X-Forwarded-Port   destination port from the PROXY header
//	X-Amzn-Vpce-Id     AWS PrivateLink VPC endpoint id (PROXY v2 TLV 0xEA, subtype 0x01), when present
//
// Client-sent X-Forwarded-*, Forwarded, X-Real-IP, X-Amzn-Vpce-Id and the
// other client-address headers libraries read (Client-IP, True-Client-IP,
// X-Client-IP, CF-Connecting-IP, X-Cluster-Client-IP, Fastly-Client-IP,
// X-Original-Forwarded-For, X-Forwarded, Forwarded-For, Proxy-Client-IP,
// WL-Proxy-Client-IP, X-Originating-IP, X-Remote-IP, X-Remote-Addr,
// X-ProxyUser-Ip, X-Envoy-External-Address, X-Appengine-User-Ip,
// Cf-Pseudo-IPv4, X-Original-URL, X-Rewrite-URL, every X-Amzn-Oidc-*, and
// the listener's drop_request_headers), in any spelling with '-' or '_',
// are always removed (header.go); other names with '_' are removed unless
// underscores_in_headers is set.
//
// Request bodies are read whole before the app is contacted
// (request_buffering, bodybuffer.go), the waits for the app's answer are
// bounded and watch the client (upstream_read_timeout, upstreamread.go);
// docs/proxy-buffering.md. The Host header is passed
// through. Only Upgrade: websocket (on HTTP/1.1) switches protocols; any other upgrade
// (h2c) is proxied as a plain request without Upgrade and HTTP2-Settings.
//
// Request handling has two parsers and one set of rules. The fast path's
// parser (fasthead.go) is strict and allocation-free: keep-alive GET/HEAD
// requests without a body, origin form, HTTP/1.1, plain headers, a head
// within 4 KiB. Any other head (a body, another method, HTTP/1.0, an
// unusual header, absolute form, bare-LF line ends, a long head) is read
// from the same buffered connection by net/http's own parser
// (http.ReadRequest, with the checks net/http's Server adds; nethttp.go).
// Either way the request goes through the same rules and the same writer:
// route (answer.go), the request head the app receives (request.go,
// header.go), the upstream exchange and its pool (exchange.go,
// transport.go), the relayed answer (response.go), the
// proxy's own answers (answer.go, health.go, redirect.go, failure.go), the
// access-log entry and the tunnel. The connection stays in one keep-alive
// loop (httpconn.go) whichever parser read its last request, with no
// goroutine per request; the loop decodes the PROXY header from its own
// pooled reader, and the goroutines that serve connections wait for the
// next one when done (connworker.go). differential_test.go sends one corpus through
// both parsers and compares the bytes the app and the client receive.
// Upgraded connections and tcp sessions are tunnels: WebSockets use pump,
// which holds no buffer while idle; tcp mode copies with splice(2). A tunnel
// starts parked (park.go, park_linux.go): its sockets wait in the proxy's
// own epoll set, and a message that one non-blocking read and write can
// move is relayed by the parker itself; a transfer that has to wait, or a
// direction whose messages come within park_after of each other, runs on
// goroutines until park_after passes without traffic. A keep-alive
// connection parks between requests after park_after. Timeouts of parked
// connections expire from one wheel.
// A drain keeps a keep-alive connection idle between requests for
// drain_idle_grace, so a request its client was already sending is
// answered (Connection: close) rather than reset.
//
// Signals (see Run): SIGTERM/SIGINT drain, SIGHUP reloads the config file
// (Server.Reload documents what changes in place), SIGUSR2 hands the
// listening sockets to a new process of the binary on disk and drains
// (handover.go), SIGUSR1 reopens the access log. Sockets passed by systemd
// socket activation (LISTEN_FDS) are used for the listeners with the same
// address. Main is the command line (command.go): run, check (-t, as nginx -t,
// of /etc/elbguard/proxy.yaml unless told otherwise; CheckResult), reload
// (checks, hands over and waits for the outcome; ReloadCommand, the unit's
// ExecReload), version, help. Config errors name the file, the line and the
// key as written (configerr.go); the .socket unit is generated from the
// config (socketunit.go).
package proxy
