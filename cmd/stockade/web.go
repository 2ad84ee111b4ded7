package main

import (
	"fmt"

	"github.com/stockade-ids/stockade/sources"
	"github.com/stockade-ids/stockade/sources/nginx"
)

// webOptions builds a source's web options from its log_format and
// real_ip_from (what names them in errors: the config key or the flag).
func webOptions(what, logFormat string, realIPFrom []string) (sources.Web, error) {
	var w sources.Web
	var err error
	if logFormat != "" {
		if w.Layout, err = nginx.Compile(logFormat); err != nil {
			return w, fmt.Errorf("%slog_format: %w", what, err)
		}
	}
	if w.RealIP, err = nginx.ParseRealIP(realIPFrom); err != nil {
		return w, fmt.Errorf("%sreal_ip_from: %w", what, err)
	}
	return w, nil
}

const (
	logFormatUsage = "access-log layout in nginx log_format or Apache LogFormat syntax; makes the files access logs unless --type is given"
	realIPUsage    = "trusted proxy (address or CIDR, repeatable): its X-Forwarded-For client is taken, as nginx's set_real_ip_from"
)
