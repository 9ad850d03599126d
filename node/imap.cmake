# node/imap: tjstored's IMAP session engine (docs/imap-server.md).  Pure of
# sockets, libuv and TLS: bytes in, bytes out, commands run against the
# store; imap_session_run() blocks on store I/O (run it on a worker thread).
# tjnode_auth: AUTHENTICATE GSSAPI's state machine (node/auth/gssapi.h).
file(GLOB TJ_NODE_IMAP_SRC ${CMAKE_CURRENT_LIST_DIR}/imap/*.c)
add_library(tjnode_imap STATIC ${TJ_NODE_IMAP_SRC})
target_link_libraries(tjnode_imap PUBLIC tjnode_auth tjstore tjproto_imap tjproto_mime tjcommon Threads::Threads)
