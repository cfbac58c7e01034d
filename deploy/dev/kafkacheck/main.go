// Command kafkacheck asks a Kafka broker for cluster metadata and exits 0 when
// the broker answers with at least one broker and a known controller.
// deploy/dev/services uses it as the Kafka health check.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated broker addresses")
	timeout := flag.Duration("timeout", 5*time.Second, "how long to wait for the metadata answer")
	quiet := flag.Bool("q", false, "print nothing on success")
	flag.Parse()
	if err := run(strings.Split(*brokers, ","), *timeout, *quiet); err != nil {
		fmt.Fprintf(os.Stderr, "kafkacheck: %v\n", err)
		os.Exit(1)
	}
}

func run(brokers []string, timeout time.Duration, quiet bool) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTimeout(timeout))
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return fmt.Errorf("requesting metadata: %w", err)
	}
	if len(md.Brokers) == 0 {
		return errors.New("metadata lists no brokers")
	}
	if md.Controller < 0 {
		return errors.New("metadata names no controller")
	}
	if !quiet {
		fmt.Printf("cluster %s: %d broker(s), controller %d\n", md.Cluster, len(md.Brokers), md.Controller)
	}
	return nil
}
