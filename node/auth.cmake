# node/auth: the authentication interface, the passwd file backend (the
# embedded default), the login throttle and the SASL PLAIN decoder.
# Pure of sockets and libuv; check() may block (run it on a worker thread).
pkg_check_modules(TJ_AUTH_XCRYPT IMPORTED_TARGET libxcrypt)
add_library(tjnode_auth STATIC
  ${CMAKE_CURRENT_LIST_DIR}/auth/auth.c
  ${CMAKE_CURRENT_LIST_DIR}/auth/auth-passwd.c
  ${CMAKE_CURRENT_LIST_DIR}/auth/auth-throttle.c)
target_link_libraries(tjnode_auth PUBLIC tjcommon PkgConfig::OPENSSL Threads::Threads)
if(TJ_AUTH_XCRYPT_FOUND)
  target_link_libraries(tjnode_auth PUBLIC PkgConfig::TJ_AUTH_XCRYPT)
else()
  target_link_libraries(tjnode_auth PUBLIC crypt)
endif()
