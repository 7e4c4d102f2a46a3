"""What a process keeps between requests: the scenario snapshot, rate-limit buckets,
sequences, stored responses, and the stores that touch the ORM."""
