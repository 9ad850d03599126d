# tjnode_config: tjstored's configuration (node/config.c, docs/config.md).
# Pure: no sockets, no libuv; the INI tokenizer is our own (node/config-ini.c).
add_library(tjnode_config STATIC
  ${CMAKE_CURRENT_LIST_DIR}/config.c
  ${CMAKE_CURRENT_LIST_DIR}/config-ini.c)
target_link_libraries(tjnode_config PUBLIC tjcommon)
