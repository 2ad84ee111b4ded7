package config

import _ "embed"

// The samples of the sections this package owns.
var (
	//go:embed sample/stdin.yaml
	stdinSample string
	//go:embed sample/nats_source.yaml
	natsSourceSample string
	//go:embed sample/kafka_source.yaml
	kafkaSourceSample string
	//go:embed sample/webhook.yaml
	webhookSample string
	//go:embed sample/mail.yaml
	mailSample string
)
