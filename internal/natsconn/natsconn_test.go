package natsconn

import "testing"

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                    "nats://127.0.0.1:4222",
		"nats://alice:pa@ss@h:4222":                "nats://redacted@h:4222",
		"nats://s3cr3tTOKEN@h:4222":                "nats://redacted@h:4222",
		"tls://u:p@a:1,nats://b:2, nats://tok@c:3": "tls://redacted@a:1,nats://b:2, nats://redacted@c:3",
		"user:pass@host:4222":                      "redacted@host:4222",
		"":                                         "",
		"nats://h:4222/path@x":                     "nats://redacted@x",
		"nats://[::1]:4222":                        "nats://[::1]:4222",
		"nats://u:p@[2001:db8::1]:4222,nats://v@[::1]:1": "nats://redacted@[2001:db8::1]:4222,nats://redacted@[::1]:1",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
