package kafka

// Test helpers shared in spirit with sinks/nats (test files cannot be
// imported across packages).
