package fleet

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/elbguard/elbguard/engine"
	"github.com/elbguard/elbguard/internal/awsclient"
)

// Environment variables of the restore-record key (engine.WithRestoreKey):
// the Lambdas get the secret's ARN; a person's CLI has neither and then
// reports restore records without acting on them.
const (
	// EnvRestoreKeySecret names the Secrets Manager secret (ARN or name)
	// whose SecretString is the key; read once at start-up.
	EnvRestoreKeySecret = "ELBGUARD_RESTORE_KEY_SECRET" //nolint:gosec // the name of an environment variable, not a credential
	// EnvRestoreKey is the key itself (tests; an operator holding it).
	// It wins over EnvRestoreKeySecret.
	EnvRestoreKey = "ELBGUARD_RESTORE_KEY"
)

// SecretsAPI is the Secrets Manager call the key is read with
// (*secretsmanager.Client satisfies it).
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// RestoreKey is the secret that signs and verifies restore records. In an
// organization the hub holds it and signs for every account: the spokes
// never see it (their role needs no access).
type RestoreKey struct {
	key []byte
}

// RestoreKeyFromEnv reads the key from ELBGUARD_RESTORE_KEY or the secret
// ELBGUARD_RESTORE_KEY_SECRET names (with cfg's credentials); nil (no error)
// when neither is set.
func RestoreKeyFromEnv(ctx context.Context, getenv func(string) string, cfg aws.Config) (*RestoreKey, error) {
	return readRestoreKey(ctx, getenv, func() SecretsAPI { return secretsmanager.NewFromConfig(cfg) })
}

func readRestoreKey(ctx context.Context, getenv func(string) string, secrets func() SecretsAPI) (*RestoreKey, error) {
	if v := getenv(EnvRestoreKey); v != "" {
		return newRestoreKey(EnvRestoreKey, []byte(v))
	}
	id := strings.TrimSpace(getenv(EnvRestoreKeySecret))
	if id == "" {
		return nil, nil
	}
	out, err := secrets().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("read the restore key from secret %s (%s): %w", id, EnvRestoreKeySecret, err)
	}
	return newRestoreKey(EnvRestoreKeySecret+" "+id, []byte(aws.ToString(out.SecretString)))
}

func newRestoreKey(from string, key []byte) (*RestoreKey, error) {
	if len(key) < engine.MinRestoreKeyBytes {
		return nil, fmt.Errorf("%w: the restore key from %s has %d bytes; want at least %d", ErrEnv, from, len(key), engine.MinRestoreKeyBytes)
	}
	return &RestoreKey{key: key}, nil
}

// For is the engine option that signs with the key for account and region;
// nil when k is nil.
func (k *RestoreKey) For(account, region string) []engine.Option {
	if k == nil {
		return nil
	}
	return []engine.Option{engine.WithRestoreKey(k.key, account, region)}
}

// ForClients is For with the clients' account and region; a
// single-account run that does not know its account asks
// sts:GetCallerIdentity once.
func (k *RestoreKey) ForClients(ctx context.Context, clients *awsclient.Clients) ([]engine.Option, error) {
	if k == nil {
		return nil, nil
	}
	account := clients.Account
	if account == "" {
		out, err := clients.STS.GetCallerIdentity(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("find the account restore records are bound to (sts:GetCallerIdentity): %w", err)
		}
		account = aws.ToString(out.Account)
	}
	return k.For(account, clients.Region()), nil
}
