package servicetest

import (
	"os"
	"testing"
)

// RequireEnv is the variable that turns a missing service into a test
// failure instead of a skip (make test sets it, so CI cannot pass by
// skipping).
const RequireEnv = "ELK_TEST_REQUIRE_SERVICES"

// Service returns the address in env (ELK_TEST_ES, ELK_TEST_KAFKA, ... as
// set by `. deploy/dev/env`), or skips the test when it is unset, failing
// it instead under ELK_TEST_REQUIRE_SERVICES=1.
func Service(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		Missing(t, env+" unset: run deploy/dev/services up and . deploy/dev/env")
	}
	return v
}

// Missing skips the test for a missing prerequisite, or fails it under
// ELK_TEST_REQUIRE_SERVICES=1.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1)", why, RequireEnv)
	}
	t.Skip(why)
}
