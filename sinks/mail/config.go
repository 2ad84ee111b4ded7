package mail

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/notify"
	"github.com/stockade-ids/stockade/sinks/queue"
)

// TLS modes.
const (
	// StartTLS (the default) upgrades the connection before anything else
	// is said, and refuses a server that does not offer it: a password or
	// a list of bans never crosses the network in clear.
	StartTLS = "starttls"
	// Implicit is TLS from the first byte (port 465).
	Implicit = "implicit"
	// None is for a relay on this host (127.0.0.1:25) only.
	None = "none"
)

// Config is one mail digest: the bans decided during each Every, in one
// mail, at most MaxBans of them (the rest go in the next).
type Config struct {
	// Name tells this sink from other mail sinks (its queue is
	// queue-mail.db or queue-mail-<Name>.db).
	Name string `yaml:"name"`
	// SMTP is the server, host:port (587 for STARTTLS, 465 for implicit).
	SMTP string `yaml:"smtp"`
	// TLS is starttls (default), implicit or none.
	TLS string `yaml:"tls"`
	// CAFile verifies the server with these CAs instead of the system's.
	CAFile string `yaml:"ca_file"`
	// Username and PasswordFile (mode 0600; its first line) authenticate
	// with AUTH PLAIN, only over TLS (or to this host).
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password_file"`
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	// Every is the digest's period (default 1h): the first ban is mailed
	// at once, the ones after it wait for the next mail.
	Every time.Duration `yaml:"every"`
	// MaxBans bounds one mail (default 500).
	MaxBans int `yaml:"max_bans"`
	// Subject and Body are Go text/templates over a notify.Batch; the
	// defaults list each ban with its first evidence line, made safe.
	Subject string `yaml:"subject"`
	Body    string `yaml:"body"`
	// Actions are the decisions mailed (default [ban]).
	Actions []pipeline.Action `yaml:"actions"`
	// Timeout bounds one delivery (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxQueue bounds the decisions waiting (default 10000).
	MaxQueue int `yaml:"max_queue"`

	// RootCAs, when set, verifies the server (tests); CAFile's if nil.
	RootCAs *x509.CertPool `yaml:"-"`
}

// DefaultSubject and DefaultBody are the templates when none is given.
const (
	DefaultSubject = `[stockade] {{.Bans}} ban(s) on {{.Host}}`
	DefaultBody    = `stockade on {{.Host}} decided {{.Count}} ban(s) since its last mail ({{time .Now}}):
{{range .Decisions}}
{{line .}}
  at {{time .At}} from {{safe .Source}}{{range $i, $e := .Evidence}}{{if lt $i 3}}
  | {{safe $e}}{{end}}{{end}}
{{end}}
Every line quoted above was written by the client it bans: read it as such.
`
)

func (c *Config) setDefaults() {
	if c.TLS == "" {
		c.TLS = StartTLS
	}
	if c.Every == 0 {
		c.Every = time.Hour
	}
	if c.MaxBans == 0 {
		c.MaxBans = 500
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.Body == "" {
		c.Body = DefaultBody
	}
	if len(c.Actions) == 0 {
		c.Actions = []pipeline.Action{pipeline.ActionBan}
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 10000
	}
}

func (c *Config) queueName() string {
	if c.Name == "" {
		return "mail"
	}
	return "mail-" + c.Name
}

// Validate reports every problem at once, each naming its key; the
// templates are rendered against hostile decisions.
func (c *Config) Validate() error {
	c.setDefaults()
	_, err := c.compile()
	return err
}

type templates struct{ subject, body *template.Template }

func (c *Config) compile() (*templates, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("mail: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	host, _, err := net.SplitHostPort(c.SMTP)
	if err != nil || host == "" {
		bad("smtp", "%q: want host:port", c.SMTP)
	}
	switch c.TLS {
	case StartTLS, Implicit:
	case None:
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			bad("tls", "none sends bans (and any password) in clear: only to a relay on this host")
		}
	default:
		bad("tls", "%q: want starttls, implicit or none", c.TLS)
	}
	if (c.Username == "") != (c.PasswordFile == "") {
		bad("username", "username and password_file go together")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		bad("from", "%q: %v", c.From, err)
	}
	if len(c.To) == 0 {
		bad("to", "no recipient")
	}
	for _, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			bad("to", "%q: %v", to, err)
		}
	}
	for _, a := range c.Actions {
		if a != pipeline.ActionBan && a != pipeline.ActionUnban {
			bad("actions", "%q: want ban or unban", a)
		}
	}
	if c.Every < 0 || c.Timeout < 0 {
		bad("every", "durations cannot be negative")
	}
	if c.MaxBans < 1 || c.MaxBans > 10000 {
		bad("max_bans", "%d: want 1 to 10000", c.MaxBans)
	}
	if c.MaxQueue < 1 {
		bad("max_queue", "%d: want at least 1", c.MaxQueue)
	}
	t := &templates{}
	if t.subject, err = parse("subject", c.Subject); err != nil {
		bad("subject", "%v", err)
	}
	if t.body, err = parse("body", c.Body); err != nil {
		bad("body", "%v", err)
	}
	return t, errors.Join(errs...)
}

// parse compiles a template and renders it against hostile decisions.
func parse(name, src string) (*template.Template, error) {
	t, err := template.New(name).Funcs(notify.Funcs()).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	ds := notify.Hostile()
	ms := make([]queue.Message, len(ds))
	for i := range ds {
		ms[i], _ = queue.JSON(&ds[i])
	}
	b, _ := notify.NewBatch(ms, "host", ds[0].At)
	if err := t.Execute(&strings.Builder{}, &b); err != nil {
		return nil, err
	}
	return t, nil
}

// password reads the first line of PasswordFile.
func (c *Config) password() (string, error) {
	if c.PasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("mail: password_file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(pw, "\r"), nil
}
