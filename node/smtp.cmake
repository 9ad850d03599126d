# tjnode_smtp: tjstored's SMTP/LMTP server engine (node/smtp/,
# docs/smtp-server.md): protocol/smtp plugged into node/net, recipient
# checks and durable delivery into the store, an optional scanning hook.
file(GLOB TJ_NODE_SMTP_SRC ${CMAKE_CURRENT_LIST_DIR}/smtp/*.c)
add_library(tjnode_smtp STATIC ${TJ_NODE_SMTP_SRC})
target_link_libraries(tjnode_smtp PUBLIC tjnode_net tjnode_imap tjstore tjproto_smtp tjproto_mime
                      tjcommon Threads::Threads)
