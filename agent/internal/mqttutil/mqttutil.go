// Package mqttutil holds what the uplink and the reference platform share about driving a
// paho.mqtt.golang v1 client: one set of safe client options, waiting for tokens with a
// deadline, and reconnect backoff with full jitter.
//
// The client is only a transport (architecture.md "Uplink", toolchain.md §4): AutoReconnect,
// ConnectRetry and ResumeSubs are off and CleanSession is on, so a token that completes
// without error really completed on the connection it was sent on, and a lost connection
// fails every in-flight token at once. Callers run their own reconnect loop and make their
// subscriptions after each connect.
package mqttutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Conn is what is needed to reach a broker.
type Conn struct {
	Broker             string // tcp://host:port, ssl://host:port, ws://…
	ClientID           string
	Username, Password string
	TLS                *tls.Config
	KeepAlive          time.Duration // also bounds detection of a silent link: KeepAlive + PingTimeout
	PingTimeout        time.Duration
	ConnectTimeout     time.Duration
	WriteTimeout       time.Duration // bounds how long Publish itself may block on a stuck link
}

// ClientOptions returns paho options for c with the project's fixed choices:
// MQTT 3.1.1, CleanSession, no AutoReconnect, no ConnectRetry, no ResumeSubs,
// OrderMatters false (handlers run on their own goroutines, so a handler waiting on the
// application can never stall paho's reader, which also carries the PUBACKs), an ordered
// memory store, and every timeout set.
func ClientOptions(c Conn) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions()
	o.AddBroker(c.Broker)
	o.SetClientID(c.ClientID)
	o.SetUsername(c.Username)
	o.SetPassword(c.Password)
	if c.TLS != nil {
		o.SetTLSConfig(c.TLS)
	}
	o.SetProtocolVersion(4)
	o.SetCleanSession(true)
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetResumeSubs(false)
	o.SetOrderMatters(false)
	o.SetStore(mqtt.NewOrderedMemoryStore())
	o.SetKeepAlive(c.KeepAlive)
	o.SetPingTimeout(c.PingTimeout)
	o.SetConnectTimeout(c.ConnectTimeout)
	o.SetWriteTimeout(c.WriteTimeout)
	o.SetDialer(&net.Dialer{Timeout: c.ConnectTimeout})
	o.SetConnectionLostHandler(nil) // callers install their own; paho's default only logs
	if u, err := url.Parse(c.Broker); err == nil && c.TLS != nil {
		switch u.Scheme {
		case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
			o.SetCustomOpenConnectionFn(func(uri *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
				return dialTLS(uri.Host, c.TLS, c.ConnectTimeout)
			})
		}
	}
	return o
}

// ErrTLSRefused is wrapped into the connect error when the broker closed a TLS connection
// right after the handshake: with TLS 1.3 that is how a broker refuses a client certificate
// (its alert may or may not arrive before the connection is gone). Classify counts it as
// an auth failure.
var ErrTLSRefused = errors.New("mqttutil: the broker closed the TLS connection right after the handshake (client certificate refused?)")

// tlsProbe is how long dialTLS waits after the handshake for the broker to refuse us.
const tlsProbe = 500 * time.Millisecond

// dialTLS connects and completes the TLS handshake, then listens briefly for the broker's
// verdict on our certificate. TLS 1.3 finishes the client's side of the handshake before the
// server has checked the client certificate, so without this a refusal shows up later as a
// reset while writing CONNECT, indistinguishable from a network failure. An MQTT broker
// sends nothing before CONNECT, so the probe cannot swallow application data.
func dialTLS(host string, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		if h, _, err := net.SplitHostPort(host); err == nil {
			cfg.ServerName = h
		}
	}
	d := net.Dialer{Timeout: timeout}
	raw, err := d.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(tlsProbe)); err != nil {
		conn.Close()
		return nil, err
	}
	var one [1]byte
	n, err := conn.Read(one[:])
	var ne net.Error
	switch {
	case n > 0:
		conn.Close()
		return nil, fmt.Errorf("mqttutil: the broker sent data before CONNECT")
	case err != nil && errors.As(err, &ne) && ne.Timeout():
		// Nothing came: the broker accepted us.
	case err != nil:
		conn.Close()
		return nil, fmt.Errorf("%w: %w", ErrTLSRefused, err)
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// ErrTimeout is returned by Wait when the token did not complete in time.
var ErrTimeout = errors.New("mqttutil: timed out waiting for the broker")

// Wait waits until tok completes, timeout passes or ctx is done, and returns the token's
// error, ErrTimeout, or ctx's error.
func Wait(ctx context.Context, tok mqtt.Token, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return ErrTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsRefused reports whether err is the broker refusing the connection for a reason that
// retrying soon will not fix (bad credentials, not authorised, client id rejected, protocol
// version). Such errors are retried at the longest backoff instead of hammering the broker.
func IsRefused(err error) bool {
	return errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) ||
		errors.Is(err, packets.ErrorRefusedNotAuthorised) ||
		errors.Is(err, packets.ErrorRefusedIDRejected) ||
		errors.Is(err, packets.ErrorRefusedBadProtocolVersion)
}

// Error classes of a failed connection (Classify).
const (
	ClassNetwork = "network" // the broker could not be reached or the link broke: retry with backoff
	ClassAuth    = "auth"    // the broker refused our credentials, or TLS refused a certificate: back off hard
	ClassRefused = "refused" // the broker refused the client id or protocol version: back off hard
)

// Classify tells apart failures that retrying soon can fix (network) from those it cannot:
// CONNACK refusals for bad credentials or missing authorisation, and TLS certificate
// failures on either side (our certificate refused by the broker, or the broker's not
// trusted by us; an unsynchronised clock shows up here as "not yet valid").
func Classify(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return ClassAuth
	case errors.Is(err, packets.ErrorRefusedIDRejected), errors.Is(err, packets.ErrorRefusedBadProtocolVersion):
		return ClassRefused
	case errors.Is(err, ErrTLSRefused):
		return ClassAuth
	}
	var alert tls.AlertError
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &alert) || errors.As(err, &unknownCA) || errors.As(err, &invalid) ||
		errors.As(err, &host) || errors.As(err, &verify) {
		return ClassAuth
	}
	// A remote alert sent after the handshake (TLS 1.3 checks the client certificate
	// late) can reach us only as text.
	if msg := err.Error(); strings.Contains(msg, "remote error: tls:") {
		return ClassAuth
	}
	return ClassNetwork
}

// Backoff yields reconnect delays: the n-th delay (from 0) is uniform in
// [Min, min(Max, Min·2^(n+1))], so it grows exponentially and is fully jittered above the
// floor; a fleet that lost its broker at the same moment does not come back in lockstep.
// The zero value is not usable: set Min and Max (Max >= Min > 0).
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Next returns the next delay.
func (b *Backoff) Next() time.Duration {
	ceil := b.Max
	if b.n < 40 {
		if c := b.Min << (b.n + 1); c > 0 && c < ceil {
			ceil = c
		}
	}
	if b.n < 64 {
		b.n++
	}
	if ceil <= b.Min {
		return b.Min
	}
	return b.Min + rand.N(ceil-b.Min+1)
}

// Longest returns the longest delay, jittered by up to a quarter downwards.
func (b *Backoff) Longest() time.Duration {
	q := b.Max / 4
	if q <= 0 {
		return b.Max
	}
	return b.Max - rand.N(q)
}

// Reset starts the sequence again from Min.
func (b *Backoff) Reset() { b.n = 0 }

// Sleep waits d, or until ctx is done (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ClientID returns prefix followed by 8 random hex digits, for a client that was given no id.
func ClientID(prefix string) string {
	return fmt.Sprintf("%s%08x", prefix, rand.Uint32())
}
