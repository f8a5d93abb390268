/* The Kafka adapter's keys (src/kafka/: consumer, dead-letter producer). */
#include "config/internal.h"

static const ks__key ks__keys[] = {
    {.name = "brokers", .kind = KS__K_STR, .off = KS__OFF(brokers), .def = "localhost:9092",
     .doc = "Kafka bootstrap servers, `host:port,host:port`."},
    {.name = "topics", .kind = KS__K_TOPICS, .off = KS__OFF(topics), .min = 1,
     .max = KS_MAX_TOPICS, .def = "customer-events",
     .doc = "Input topics. Names: 1–249 characters of `a-z A-Z 0-9 . _ -`, no repeats."},
    {.name = "group", .kind = KS__K_STR, .off = KS__OFF(group), .def = "kpistream",
     .doc = "Kafka consumer group id. Offsets are stored per group "
            "(`<prefix>offsets:<group>`), but the group's merged aggregates are stored per "
            "prefix: a prefix belongs to the first group that runs on it, and another group is "
            "refused at start (see [Several members](#several-members-and-changing-settings))."},
    {.name = "dlq_topic", .kind = KS__K_TOPIC_OPT, .off = KS__OFF(dlq_topic), .def = NULL,
     .doc = "Dead-letter topic for rejected events. `null` (or `\"\"`): `<input topic>.dlq` "
            "for each input topic."},
    {.name = "batch_size", .kind = KS__K_INT, .off = KS__OFF(batch_size), .min = 1,
     .max = 100000, .def = "1000", .doc = "Messages taken from Kafka per consume batch."},
    {.name = "threads", .kind = KS__K_INT, .off = KS__OFF(threads), .min = 1, .max = 2,
     .def = "2",
     .doc = "Threads that apply events. With `2`, each batch's partitions are shared out "
            "between two threads, which apply them at once; the outputs are the same as with "
            "`1` ([architecture.md](architecture.md#threads)). More cores are used by more "
            "members of the group."},
    {.name = "kafka", .kind = KS__K_KAFKA, .off = KS__OFF(kafka_props), .min = 0,
     .max = KS_MAX_KAFKA_PROPS, .def = NULL,
     .doc = "librdkafka properties passed through unchanged, e.g. `{\"security.protocol\": "
            "\"SASL_SSL\"}`. See [Kafka properties](#kafka-properties)."},
};

KS__MODULE(kafka, ks__keys, NULL, NULL, NULL);
