module github.com/elk-project/elk/bench

go 1.26.8

replace github.com/elk-project/elk => ../

require (
	github.com/elk-project/elk v0.0.0-00010101000000-000000000000
	github.com/netsampler/goflow2/v2 v2.2.6
)
