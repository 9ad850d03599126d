# tjstored: the node daemon (needs the net, imap, auth and config modules).
if(TARGET tjnode_net AND TARGET tjnode_imap AND TARGET tjnode_smtp)
  add_executable(tjstored ${CMAKE_CURRENT_SOURCE_DIR}/tjstored.c)
  target_link_libraries(tjstored PRIVATE tjnode_net tjnode_imap tjnode_auth tjnode_config tjnode_admin tjnode_smtp tjnode_pipeline tjstore)
  set_target_properties(tjstored PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
endif()
