// Package bench compares elk's sFlow decoder with goflow2's
// (github.com/netsampler/goflow2/v2/decoders/sflow) on the same datagrams,
// side by side in one `go test -bench` run. It is a separate module so that
// elk itself does not depend on goflow2.
//
//	cd bench && go test -run=^$ -bench=BenchmarkDecode -benchmem
package bench
