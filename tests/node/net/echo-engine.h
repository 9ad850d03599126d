/*
 * echo-engine.h - a line protocol for testing node/net (not shipped).
 *
 *   greeting      "+OK echo ready tls=yes|no"
 *   ECHO text     "text"
 *   STARTTLS      "+OK begin tls", then TLS (input after it is dropped)
 *   TLS           "+OK tls=yes|no"
 *   SLOW ms       sleeps ms on a worker thread, then "+OK slow done"
 *   CHUNKS n      n work items, each one line "CHUNK i ccc...c" (32 KiB),
 *                 then "+OK chunks done" (a large answer made in pieces)
 *   TIMEOUT ms    idle timeout from now, "+OK"
 *   ID            "+OK id=N" (tj_net_conn_id, for tj_net_wakeup)
 *   QUIT          "+OK bye", close
 *   wakeup        "* NEWS";  idle timeout "-ERR autologout";
 *   shutdown      "-ERR shutting down"
 */
#ifndef TJ_TEST_ECHO_ENGINE_H
#define TJ_TEST_ECHO_ENGINE_H

#include "node/net/net.h"

extern const tj_net_engine echo_engine;
/* sessions opened and closed so far (any thread) */
extern int echo_opened, echo_closed, echo_works;

#endif
