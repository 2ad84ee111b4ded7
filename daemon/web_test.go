package daemon

import "testing"

// TestSourceWebConfig: log_format and real_ip_from are checked when the
// configuration loads, and apply to files only.
func TestSourceWebConfig(t *testing.T) {
	ok := SourceConfig{Files: []string{"/var/log/nginx/access.log"}, LogFormat: `$remote_addr [$time_local] "$request" $status`, RealIPFrom: []string{"10.0.0.0/8"}}
	if errs := ok.problems(0); len(errs) != 0 {
		t.Errorf("valid: %v", errs)
	}
	for _, bad := range []SourceConfig{
		{Files: []string{"x"}, LogFormat: `$status`},
		{Files: []string{"x"}, RealIPFrom: []string{"proxy.example"}},
		{Stdin: true, RealIPFrom: []string{"10.0.0.1"}},
	} {
		if errs := bad.problems(0); len(errs) == 0 {
			t.Errorf("%+v accepted", bad)
		}
	}
}
