package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/elbguard/elbguard/test/peer"
)

// Region is the AWS region every test uses against moto.
const Region = peer.Region

// Moto is a running moto_server; see peer.Moto.
type Moto struct {
	*peer.Moto
	t testing.TB
}

// StartMoto starts moto_server on a free loopback port, waits until it
// answers, and stops it when the test ends.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	Tool(t, "moto_server")
	m, err := peer.StartMoto(Context(t, 90*time.Second), Root(t), peer.Options{LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stopWithTest(t, m.Process, "moto_server")
	return &Moto{Moto: m, t: t}
}

// Config loads an SDK configuration the standard way (config.LoadDefaultConfig)
// from the environment that Env describes; it sets those variables for the
// rest of the test with t.Setenv, so the test must not be parallel.
func (m *Moto) Config(t testing.TB) aws.Config {
	t.Helper()
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(Context(t, 10*time.Second))
	if err != nil {
		t.Fatalf("load AWS config for moto: %v", err)
	}
	return cfg
}

// Reset drops every resource moto holds.
func (m *Moto) Reset(t testing.TB) {
	t.Helper()
	if err := m.Moto.Reset(Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}
