package nginx

import (
	"errors"
	"fmt"
	"strings"
)

// field is what a variable of a log format holds, as far as stockade reads
// it; fieldOther is any variable it does not read (skipped).
type field uint8

const (
	fieldOther     field = iota
	fieldAddr            // $remote_addr, %h, %a: the peer
	fieldXFF             // $http_x_forwarded_for, %{X-Forwarded-For}i
	fieldXFFPeer         // $proxy_add_x_forwarded_for: the list, then the peer
	fieldUser            // $remote_user, %u
	fieldTimeLocal       // $time_local; %t writes it in brackets
	fieldTimeISO         // $time_iso8601
	fieldTimeMsec        // $msec
	fieldRequest         // $request, %r
	fieldMethod          // $request_method, %m
	fieldURI             // $request_uri, $uri, %U
	fieldProto           // $server_protocol, %H
	fieldStatus          // $status, %>s, %s
	fieldBytes           // $body_bytes_sent, $bytes_sent, %b, %B, %O
	fieldReferer         // $http_referer, %{Referer}i
	fieldAgent           // $http_user_agent, %{User-Agent}i
)

var nginxVars = map[string]field{
	"remote_addr": fieldAddr, "http_x_forwarded_for": fieldXFF,
	"proxy_add_x_forwarded_for": fieldXFFPeer, "remote_user": fieldUser,
	"time_local": fieldTimeLocal, "time_iso8601": fieldTimeISO, "msec": fieldTimeMsec,
	"request": fieldRequest, "request_method": fieldMethod,
	"request_uri": fieldURI, "uri": fieldURI, "server_protocol": fieldProto,
	"status": fieldStatus, "body_bytes_sent": fieldBytes, "bytes_sent": fieldBytes,
	"http_referer": fieldReferer, "http_user_agent": fieldAgent,
}

var apacheDirectives = map[byte]field{
	'h': fieldAddr, 'a': fieldAddr, 'u': fieldUser, 't': fieldTimeLocal,
	'r': fieldRequest, 'm': fieldMethod, 'U': fieldURI, 'H': fieldProto,
	's': fieldStatus, 'b': fieldBytes, 'B': fieldBytes, 'O': fieldBytes,
}

var apacheHeaders = map[string]field{
	"x-forwarded-for": fieldXFF, "referer": fieldReferer, "user-agent": fieldAgent,
}

// part is a literal the server writes, then the field that follows it
// (fieldNone after the last literal).
type part struct {
	lit   string
	field field
	set   bool // a field follows lit
}

// Layout is a compiled log format: the literals the server writes between
// the variables, which the parser finds in order. Compile it once; its
// Parser serves one source.
type Layout struct {
	spec  string
	parts []part
}

func (l *Layout) String() string { return l.spec }

// Compile compiles an access-log format: nginx's log_format syntax
// (`$remote_addr - $remote_user [$time_local] "$request" ...`) or, when it
// holds a `%` directive and no `$` variable, Apache's LogFormat syntax
// (`%h %l %u %t \"%r\" %>s %b ...`, with the backslash escapes of
// Apache's configuration). It refuses a format that names no client
// ($remote_addr, %h) or no time, and one where two variables touch with no
// literal between them, which no parser can split.
func Compile(spec string) (*Layout, error) {
	var parts []part
	var err error
	if strings.Contains(spec, "%") && !strings.Contains(spec, "$") {
		parts, err = compileApache(spec)
	} else {
		parts, err = compileNginx(spec)
	}
	if err != nil {
		return nil, err
	}
	var addr, tm bool
	for i, p := range parts {
		if !p.set {
			continue
		}
		addr = addr || p.field == fieldAddr || p.field == fieldXFFPeer
		tm = tm || p.field == fieldTimeLocal || p.field == fieldTimeISO || p.field == fieldTimeMsec
		if i+1 < len(parts) && parts[i+1].set && parts[i+1].lit == "" {
			return nil, fmt.Errorf("log format %q: two variables with nothing between them cannot be told apart", spec)
		}
	}
	if !addr {
		return nil, fmt.Errorf("log format %q: no client address ($remote_addr, %%h)", spec)
	}
	if !tm {
		return nil, fmt.Errorf("log format %q: no time ($time_local, $time_iso8601, $msec, %%t)", spec)
	}
	return &Layout{spec: spec, parts: parts}, nil
}

func compileNginx(spec string) ([]part, error) {
	var parts []part
	var lit strings.Builder
	for i := 0; i < len(spec); {
		c := spec[i]
		if c != '$' {
			lit.WriteByte(c)
			i++
			continue
		}
		i++
		braced := i < len(spec) && spec[i] == '{'
		if braced {
			i++
		}
		s := i
		for i < len(spec) && (isAlnum(spec[i]) || spec[i] == '_') {
			i++
		}
		name := spec[s:i]
		if braced {
			if i >= len(spec) || spec[i] != '}' {
				return nil, fmt.Errorf("log format: unclosed ${ at %d", s-2)
			}
			i++
		}
		if name == "" {
			return nil, errors.New("log format: a $ with no variable name")
		}
		parts = append(parts, part{lit: lit.String(), field: nginxVars[strings.ToLower(name)], set: true})
		lit.Reset()
	}
	return append(parts, part{lit: lit.String()}), nil
}

func compileApache(spec string) ([]part, error) {
	var parts []part
	var lit strings.Builder
	for i := 0; i < len(spec); {
		c := spec[i]
		switch {
		case c == '\\' && i+1 < len(spec):
			lit.WriteByte(unescape(spec[i+1]))
			i += 2
			continue
		case c != '%':
			lit.WriteByte(c)
			i++
			continue
		}
		i++
		// Modifiers: a status condition (!200,304), < or >.
		for i < len(spec) && (spec[i] == '<' || spec[i] == '>' || spec[i] == '!' || spec[i] == ',' || spec[i] >= '0' && spec[i] <= '9') {
			i++
		}
		if i >= len(spec) {
			return nil, errors.New("log format: a % with no directive")
		}
		if spec[i] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		f := fieldOther
		if spec[i] == '{' {
			e := strings.IndexByte(spec[i:], '}')
			if e < 0 || i+e+1 >= len(spec) {
				return nil, errors.New("log format: unclosed %{")
			}
			arg := spec[i+1 : i+e]
			i += e + 1
			if spec[i] == 'i' {
				f = apacheHeaders[strings.ToLower(arg)]
			}
		} else {
			f = apacheDirectives[spec[i]]
			if spec[i] == 't' {
				// %t writes [$time_local], brackets included.
				lit.WriteByte('[')
				parts = append(parts, part{lit: lit.String(), field: f, set: true})
				lit.Reset()
				lit.WriteByte(']')
				i++
				continue
			}
		}
		i++
		parts = append(parts, part{lit: lit.String(), field: f, set: true})
		lit.Reset()
	}
	return append(parts, part{lit: lit.String()}), nil
}

func unescape(c byte) byte {
	switch c {
	case 't':
		return '\t'
	case 'n':
		return '\n'
	}
	return c
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
