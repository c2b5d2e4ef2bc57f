package config

const (
	TokenCookie      = "orders_token"
	SecretsMountPath = "/run/secrets"
	PasswordEnv      = "DB_PASSWORD"
	APITokenPrefix   = "Bearer "
)

var DocsKey = "AKIAIOSFODNN7EXAMPLE"
