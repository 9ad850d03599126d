# node/auth: the authentication interface, the passwd file backend (the
# embedded default), the login throttle and the SASL PLAIN decoder.
# Pure of sockets and libuv; check() may block (run it on a worker thread).
pkg_check_modules(TJ_AUTH_XCRYPT IMPORTED_TARGET libxcrypt)
add_library(tjnode_auth STATIC
  ${CMAKE_CURRENT_LIST_DIR}/auth/auth.c
  ${CMAKE_CURRENT_LIST_DIR}/auth/auth-passwd.c
  ${CMAKE_CURRENT_LIST_DIR}/auth/auth-throttle.c
  ${CMAKE_CURRENT_LIST_DIR}/auth/auth-krb5.c
  ${CMAKE_CURRENT_LIST_DIR}/auth/gssapi.c)
target_link_libraries(tjnode_auth PUBLIC tjcommon PkgConfig::OPENSSL Threads::Threads)
# the Kerberos backend and SASL GSSAPI (auth-krb5.c, gssapi.c): MIT krb5
pkg_check_modules(TJ_AUTH_KRB5 REQUIRED IMPORTED_TARGET krb5 krb5-gssapi)
target_link_libraries(tjnode_auth PUBLIC PkgConfig::TJ_AUTH_KRB5)
if(TJ_AUTH_XCRYPT_FOUND)
  target_link_libraries(tjnode_auth PUBLIC PkgConfig::TJ_AUTH_XCRYPT)
else()
  target_link_libraries(tjnode_auth PUBLIC crypt)
endif()
