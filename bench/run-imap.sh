#!/usr/bin/env bash
# run-imap.sh - the IMAP part of the harness: W2 (APPEND), W3 (a big
# mailbox) and W5 (memory, IDLE connections), tjstored against Dovecot.
# The harness bench/run.sh does the work (its header lists the environment:
# N, CONNS, BUILD, FILL, KEEP, ...); this is the same run without the
# delivery workloads.  As root.
#
#   bench/run-imap.sh [REPS]          REPS repetitions (default 3)
#   N=20000 bench/run-imap.sh 1       a smaller mailbox for a quick run
exec env ONLY="${ONLY:-w2 w3 w5}" "$(dirname "$0")/run.sh" "$@"
