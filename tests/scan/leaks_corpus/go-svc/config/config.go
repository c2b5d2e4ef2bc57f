package config

const (
	SendgridAPIKey = "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"
	apiKey         = "HJs1UJOkHG16JqtQy9235Nnt2j9IHrKFmAIhGaMy"
	APIKeyHeader   = "X-Api-Key"
	DefaultRegion  = "eu-west-1"
)
