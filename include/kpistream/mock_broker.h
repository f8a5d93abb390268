/* `kpistream mock-broker`: a throwaway Kafka cluster for demos and manual tests.
 *
 * Runs librdkafka's built-in mock cluster (real Kafka protocol on loopback
 * ports, data in memory) so the demo and kcat need no JVM or Kafka install.
 * Not a broker for real data: everything is lost on exit, and librdkafka 2.0.2
 * keeps only the newest ~5 MB of each partition.
 */
#ifndef KPISTREAM_MOCK_BROKER_H
#define KPISTREAM_MOCK_BROKER_H

/** Entry point of `kpistream mock-broker [--brokers N] [--topic NAME:PARTITIONS]...
 *  [--bootstrap-file PATH]` (argv[0] is the subcommand name). Creates the cluster
 *  and topics (default customer-events:8 and customer-events.dlq:1), prints the
 *  bootstrap list as one line on stdout and atomically writes it to PATH, then
 *  serves until SIGINT/SIGTERM. Returns the process exit code: 0 after a signal,
 *  2 on a usage error, 1 when the cluster cannot be created. */
int ks_mock_broker_main(int argc, char **argv);

#endif
