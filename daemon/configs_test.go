package daemon

import (
	"time"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/sinks/exec"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sources/listen"
)

// Short names for the configurations the tests build in code: each is
// the component's own Config (or the config package's entry), not a copy.
type (
	SourceConfig     = config.Source
	SinkConfig       = config.Sink
	PolicyConfig     = enforce.PolicyConfig
	OriginConfig     = enforce.Origin
	NATSConn         = natsconn.Config
	KafkaConn        = kafkaconn.Config
	Duration         = time.Duration
	NATSServerConfig = config.NATSServer
	NATSPeer         = config.NATSPeer
	SyslogConfig     = listen.SyslogConfig
	ExecConfig       = exec.Config
	NFTablesConfig   = nftables.Config
)

// parseConfig and parseEnforceConfig are the loaders the commands use.
var (
	parseConfig        = config.Parse
	parseEnforceConfig = config.ParseEnforcer
)
